package casestore

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
)

// pageSize is the step at which WarmCase touches a value spanning pages:
// one byte per page faults the page in.
const pageSize = 4096

// WarmCase reads, in a read-only transaction, every row the purge of a case
// reads or rewrites: the case and its places in the indexes, its messages
// with their dedup, raw content and reference rows, its outbound and evidence
// rows with their raw content, its events. The write transaction that follows
// runs inside the group committer, alone: on a store much larger than memory
// each page it finds cold is a disk read that holds every other commit. Read
// here first, by several goroutines at once, those pages come in side by side
// and the committer finds them in memory. It changes nothing and reports only
// a store that cannot be read; a case that is gone is no error.
func (s *Store) WarmCase(caseID string) error {
	return s.View(func(tx *Tx) error {
		var w warmer
		c, err := tx.Case(caseID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("warm case %s: %w", caseID, err)
		}
		// PutCase and the change log: the case's place in each index.
		w.get(tx, bCasesByCreated, createdKey(c))
		if seq := tx.tx.Bucket(bCaseChange).Get([]byte(caseID)); len(seq) == 8 {
			w.get(tx, bCasesByChange, seq)
		}
		// Events are rewritten as they are; the other rows are read in full below.
		w.prefix(tx, bEvents, []byte(caseID+"/"))
		msgs, err := tx.CaseMessages(caseID)
		if err != nil {
			return fmt.Errorf("warm case %s: %w", caseID, err)
		}
		for _, m := range msgs {
			if m.MessageID != "" {
				w.get(tx, bDedup, []byte(DedupKey(m.Target.String(), m.MessageID, m.SHA256)))
			}
			w.raw(tx, m.SHA256)
		}
		outs, err := tx.CaseOutbound(caseID)
		if err != nil {
			return fmt.Errorf("warm case %s: %w", caseID, err)
		}
		for _, o := range outs {
			w.get(tx, bOutQueued, itob(o.ID))
			w.raw(tx, o.SHA256)
		}
		evidence, err := tx.CaseEvidence(caseID)
		if err != nil {
			return fmt.Errorf("warm case %s: %w", caseID, err)
		}
		for _, ev := range evidence {
			w.raw(tx, ev.SHA256)
		}
		runtime.KeepAlive(w.sum) // the reads are the point
		return nil
	})
}

// warmer touches every page of the values it is shown; sum is what keeps
// the reads from being optimised away.
type warmer struct{ sum byte }

func (w *warmer) touch(v []byte) {
	for i := 0; i < len(v); i += pageSize {
		w.sum += v[i]
	}
	if len(v) > 0 {
		w.sum += v[len(v)-1]
	}
}

func (w *warmer) get(tx *Tx, bucket, key []byte) {
	w.touch(tx.tx.Bucket(bucket).Get(key))
}

func (w *warmer) prefix(tx *Tx, bucket, prefix []byte) {
	c := tx.tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		w.touch(v)
	}
}

// raw touches the reference count of content sum and the content if kept
// inline.
func (w *warmer) raw(tx *Tx, sum string) {
	if sum == "" {
		return
	}
	if r := tx.rawRef(sum); r.seq != 0 { // the lookup reads raw_refs' page in
		w.get(tx, bRawSeq, itob(r.seq))
	} else {
		w.get(tx, bRaw, []byte(sum))
	}
}
