package casestore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Timers are kept in a bucket ordered by due time (key: due in Unix
// nanoseconds, big-endian, then "CASE/KIND"), so the scheduler finds the next
// one with a cursor, and mirrored in the case so a transition can drop them.

func timerKey(caseID string, t Timer) []byte {
	k := make([]byte, 8, 8+len(caseID)+1+len(t.Kind))
	binary.BigEndian.PutUint64(k, uint64(t.Due.UnixNano()))
	return append(append(k, caseID+"/"...), t.Kind...)
}

// SetTimers replaces every pending timer of c with timers.
func (t *Tx) SetTimers(c *Case, timers ...Timer) error {
	b := t.tx.Bucket(bTimers)
	for _, old := range c.Timers {
		if err := b.Delete(timerKey(c.ID, old)); err != nil {
			return err
		}
	}
	c.Timers = nil
	for _, tm := range timers {
		if err := b.Put(timerKey(c.ID, tm), nil); err != nil {
			return err
		}
		c.Timers = append(c.Timers, tm)
	}
	sort.Slice(c.Timers, func(i, j int) bool { return c.Timers[i].Due.Before(c.Timers[j].Due) })
	return nil
}

// DropTimer removes one pending timer of c (after it fired).
func (t *Tx) DropTimer(c *Case, kind string) error {
	var keep []Timer
	for _, tm := range c.Timers {
		if tm.Kind == kind {
			if err := t.tx.Bucket(bTimers).Delete(timerKey(c.ID, tm)); err != nil {
				return err
			}
			continue
		}
		keep = append(keep, tm)
	}
	c.Timers = keep
	return nil
}

// DueTimer is a timer that is due, with its case.
type DueTimer struct {
	Case string
	Timer
}

// DueTimers lists timers due at or before now, oldest first, at most limit.
func (t *Tx) DueTimers(now time.Time, limit int) ([]DueTimer, error) {
	var out []DueTimer
	c := t.tx.Bucket(bTimers).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		due := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
		if due.After(now) {
			break
		}
		id, kind, ok := strings.Cut(string(k[8:]), "/")
		if !ok {
			return nil, fmt.Errorf("bad timer key %q", k)
		}
		out = append(out, DueTimer{Case: id, Timer: Timer{Kind: kind, Due: due}})
	}
	return out, nil
}

// NextTimer returns when the earliest timer is due.
func (t *Tx) NextTimer() (time.Time, bool) {
	k, _ := t.tx.Bucket(bTimers).Cursor().First()
	if k == nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
}

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
		if err := json.Unmarshal(v, &m); err != nil {
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

// DropStaleTimer deletes a timer key its case no longer lists.
func (t *Tx) DropStaleTimer(caseID string, tm Timer) error {
	return t.tx.Bucket(bTimers).Delete(timerKey(caseID, tm))
}
