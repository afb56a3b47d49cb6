package casestore

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The change log: every committed transaction that changes a case (its
// record, one of its messages or one of its outbound rows: what Watch
// reports) gives the case the next value of one sequence. The log keeps each
// case once, under its last change, so it holds as many entries as there are
// cases, and a reader that remembers the last sequence it handled (the IMAP
// index) finds what changed while it was not running by reading the log from
// there, without reading every case. A case's sequence is also its stamp: it
// changes with every change of the case, and reading it costs one lookup
// however many messages the case has.
var (
	bCaseChange    = []byte("case_change")     // case id -> sequence of its last change (8 bytes BE)
	bCasesByChange = []byte("cases_by_change") // sequence (8 bytes BE) -> case id; its bucket sequence is the last one given
)

// recordChanges gives each case the transaction changed the next sequence;
// the committer calls it once per transaction, after every function of the
// batch ran.
func (t *Tx) recordChanges() error {
	if len(t.touched) == 0 {
		return nil
	}
	ids := make([]string, 0, len(t.touched))
	for id := range t.touched {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		seq, err := logChange(t.tx, id)
		if err != nil {
			return fmt.Errorf("change log of case %s: %w", id, err)
		}
		t.lastChange = seq
	}
	return nil
}

// logChange moves case id to the end of the log and returns its sequence.
func logChange(tx *bolt.Tx, id string) (uint64, error) {
	byCase, bySeq := tx.Bucket(bCaseChange), tx.Bucket(bCasesByChange)
	seq, err := bySeq.NextSequence()
	if err != nil {
		return 0, err
	}
	if old := byCase.Get([]byte(id)); len(old) == 8 {
		if err := bySeq.Delete(old); err != nil {
			return 0, err
		}
	}
	if err := bySeq.Put(itob(seq), []byte(id)); err != nil {
		return 0, err
	}
	return seq, byCase.Put([]byte(id), itob(seq))
}

// CaseStamp returns the sequence of the last change of a case (0 for none):
// it differs after any committed change of the case record, its messages or
// its outbound rows.
func (t *Tx) CaseStamp(id string) uint64 {
	return btoi(t.tx.Bucket(bCaseChange).Get([]byte(id)))
}

// LastChange is the sequence of the last change of any case.
func (t *Tx) LastChange() uint64 { return t.tx.Bucket(bCasesByChange).Sequence() }

// CasesChangedAfter returns the cases whose last change came after sequence
// after, oldest change first, at most limit of them (all when limit <= 0),
// and the sequence of the last one returned (after when none).
func (t *Tx) CasesChangedAfter(after uint64, limit int) (ids []string, last uint64) {
	last = after
	c := t.tx.Bucket(bCasesByChange).Cursor()
	for k, v := c.Seek(itob(after + 1)); k != nil; k, v = c.Next() {
		if limit > 0 && len(ids) == limit {
			break
		}
		ids = append(ids, string(v))
		last = btoi(k)
	}
	return ids, last
}
