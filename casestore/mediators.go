package casestore

import (
	"fmt"
)

// PutMediator adds or replaces a mediator, keyed by lower-cased address.
func (t *Tx) PutMediator(m Mediator) error {
	return t.put(bMediators, []byte(NormalizeEmail(m.Email)), m)
}

// Mediator finds a registered mediator by address.
func (t *Tx) Mediator(email string) (Mediator, error) {
	var m Mediator
	err := t.get(bMediators, []byte(NormalizeEmail(email)), &m)
	return m, err
}

// Mediators lists the registered mediators by address.
func (t *Tx) Mediators() ([]Mediator, error) {
	var out []Mediator
	err := t.tx.Bucket(bMediators).ForEach(func(k, v []byte) error {
		var m Mediator
		if err := decodeRow(v, &m); err != nil {
			return fmt.Errorf("mediator %s: %w", k, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// NextCounter increments and returns a named counter (round robin and such).
func (t *Tx) NextCounter(name string) (uint64, error) {
	b := t.tx.Bucket(bMeta)
	key := []byte("counter/" + name)
	n := btoi(b.Get(key)) + 1
	return n, b.Put(key, itob(n))
}
