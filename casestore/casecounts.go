package casestore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bCaseCounts holds the number of cases in each state (key: the state,
// value: a big-endian uint64), kept by PutCase in the transaction that
// writes the case, so the parley_cases gauge needs no scan of every case.
var bCaseCounts = []byte("case_counts")

// countCase moves one case from the state old ("" for a new case) to new.
// A count already at zero stays there: a gauge that is off is no reason to
// refuse a case write.
func (t *Tx) countCase(old, new string) error {
	if old == new {
		return nil
	}
	b := t.tx.Bucket(bCaseCounts)
	if n := btoi(b.Get([]byte(old))); old != "" && n > 0 {
		if err := b.Put([]byte(old), itob(n-1)); err != nil {
			return err
		}
	}
	return b.Put([]byte(new), itob(btoi(b.Get([]byte(new)))+1))
}

// stateKey opens the first key of a case row; encoding/json writes the
// fields in the order of Case, so it is the row's own state.
var stateKey = []byte(`,"state":"`)

// rowState is the state of an encoded case row. The row is written by
// encoding/json in the order of Case's fields, so its state follows id,
// created and updated, before any nested object: a bare `,"` cannot occur
// inside a JSON string, so the first stateKey before any '{' is the row's
// own. Anything else (an escaped state, another layout) is decoded fully.
func rowState(v []byte) (string, error) {
	if i := bytes.Index(v, stateKey); i > 0 && bytes.IndexByte(v[1:i], '{') < 0 {
		rest := v[i+len(stateKey):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			return string(rest[:j]), nil
		}
	}
	var c struct {
		State string `json:"state"`
	}
	err := decodeRow(v, &c)
	return c.State, err
}

// migrateCaseCounts fills case_counts from every case row (schema 3).
func migrateCaseCounts(tx *bolt.Tx) error {
	counts := map[string]uint64{}
	err := tx.Bucket(bCases).ForEach(func(k, v []byte) error {
		st, err := rowState(v)
		if err != nil {
			return fmt.Errorf("case %s: %w", k, err)
		}
		counts[st]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate to schema 3 (case counts): %w", err)
	}
	b := tx.Bucket(bCaseCounts)
	for st, n := range counts {
		if err := b.Put([]byte(st), itob(n)); err != nil {
			return fmt.Errorf("migrate to schema 3 (case counts): %w", err)
		}
	}
	return nil
}
