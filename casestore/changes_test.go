package casestore

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkChangeLog checks the log holds each case once, where the case says.
func checkChangeLog(t *testing.T, s *Store) {
	t.Helper()
	mustDo(t, s.View(func(tx *Tx) error {
		byCase, bySeq := tx.tx.Bucket(bCaseChange), tx.tx.Bucket(bCasesByChange)
		if a, b, c := byCase.Stats().KeyN, bySeq.Stats().KeyN, tx.tx.Bucket(bCases).Stats().KeyN; a != b || a != c {
			return fmt.Errorf("change log: %d cases, %d entries, %d case rows", a, b, c)
		}
		return byCase.ForEach(func(k, v []byte) error {
			if got := bySeq.Get(v); !bytes.Equal(got, k) {
				return fmt.Errorf("change log: case %s at %d, the entry there names %q", k, btoi(v), got)
			}
			return nil
		})
	}))
}

func TestCaseStampAndChangeLog(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	w := s.Watch()
	defer w.Close()
	stamp := func(id string) (st uint64) {
		s.View(func(tx *Tx) error { st = tx.CaseStamp(id); return nil })
		return st
	}
	changed := func(after uint64, limit int) (ids []string, last uint64) {
		s.View(func(tx *Tx) error { ids, last = tx.CasesChangedAfter(after, limit); return nil })
		return ids, last
	}
	mustDo(t, s.Update(func(tx *Tx) error {
		for _, id := range []string{"AAA-0001", "AAA-0002", "AAA-0003"} {
			if err := tx.PutCase(&Case{ID: id, State: StateOpen}); err != nil {
				return err
			}
		}
		return nil
	}))
	s1 := stamp("AAA-0001")
	if s1 == 0 || stamp("NOPE-0000") != 0 {
		t.Fatalf("stamps %d, %d for an unknown case", s1, stamp("NOPE-0000"))
	}
	ids, mark := changed(0, 0)
	if !slices.Equal(ids, []string{"AAA-0001", "AAA-0002", "AAA-0003"}) {
		t.Fatalf("changed %v", ids)
	}

	// Each kind of write a case's folder shows moves it to the end of the log.
	var gen1, gen2 uint64
	s.View(func(tx *Tx) error { gen1 = tx.Generation(); return nil })
	mustDo(t, s.Update(func(tx *Tx) error {
		id, _ := tx.NextMessageID()
		return tx.PutMessage(&Message{ID: id, CaseID: "AAA-0001"})
	}))
	s.View(func(tx *Tx) error { gen2 = tx.Generation(); return nil })
	if gen2 == gen1 {
		t.Errorf("generation did not change with a write")
	}
	s2 := stamp("AAA-0001")
	if s2 <= s1 {
		t.Errorf("a new message of the case must change its stamp: %d -> %d", s1, s2)
	}
	mustDo(t, s.Update(func(tx *Tx) error {
		return tx.AddOutbound(&Outbound{CaseID: "AAA-0002", State: OutSent}, []byte("Subject: x\r\n\r\nx\r\n"))
	}))
	mustDo(t, s.Update(func(tx *Tx) error {
		c, err := tx.Case("AAA-0003")
		if err != nil {
			return err
		}
		c.State = StateClosed
		return tx.PutCase(c)
	}))
	if ids, last := changed(mark, 0); !slices.Equal(ids, []string{"AAA-0001", "AAA-0002", "AAA-0003"}) || last <= mark {
		t.Fatalf("changed after %d: %v up to %d", mark, ids, last)
	}
	// Writes that name no case, and the mailbox index's own, change nothing.
	before := stamp("AAA-0002")
	mustDo(t, s.Update(func(tx *Tx) error {
		if err := tx.PutMailCase(MailCase{ID: "AAA-0002", Label: "x"}); err != nil {
			return err
		}
		id, _ := tx.NextMessageID()
		return tx.PutMessage(&Message{ID: id})
	}))
	if stamp("AAA-0002") != before {
		t.Errorf("a caseless write changed a case's stamp")
	}
	// Paging: a limit, then the rest from the last one returned.
	_, mark = changed(0, 0)
	mustDo(t, s.Update(func(tx *Tx) error {
		for _, id := range []string{"AAA-0003", "AAA-0002"} {
			c, _ := tx.Case(id)
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		return nil
	}))
	first, last := changed(mark, 1)
	rest, end := changed(last, 0)
	if !slices.Equal(first, []string{"AAA-0002"}) || !slices.Equal(rest, []string{"AAA-0003"}) || end <= last {
		t.Errorf("pages %v then %v (%d, %d)", first, rest, last, end)
	}
	mustDo(t, s.View(func(tx *Tx) error {
		if tx.LastChange() != end {
			return fmt.Errorf("last change %d, want %d", tx.LastChange(), end)
		}
		return nil
	}))
	// A watcher learns up to which change it was told of everything.
	if changes, through := w.TakeThrough(); through != end || len(changes) != 3 {
		t.Errorf("watch: %d changes through %d, want 3 through %d", len(changes), through, end)
	}
	mustDo(t, s.Update(func(tx *Tx) error { return tx.PutMailCase(MailCase{ID: "AAA-0001"}) }))
	if changes, through := w.TakeThrough(); through != end || len(changes) != 0 {
		t.Errorf("watch after a write of no case: %v through %d", changes, through)
	}
	checkChangeLog(t, s)

	// A failed function of a batch leaves no trace in the log.
	errFail := fmt.Errorf("fail")
	if err := s.Update(func(tx *Tx) error {
		c, _ := tx.Case("AAA-0001")
		if err := tx.PutCase(c); err != nil {
			return err
		}
		return errFail
	}); err != errFail {
		t.Fatalf("update: %v", err)
	}
	if ids, _ := changed(end, 0); len(ids) != 0 {
		t.Errorf("a failed update logged %v", ids)
	}
}

func TestMailListing(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(mcs ...MailCase) {
		t.Helper()
		mustDo(t, s.Update(func(tx *Tx) error {
			for _, mc := range mcs {
				if err := tx.PutMailCase(mc); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	listed := func(closed int) (ids []string) {
		t.Helper()
		mustDo(t, s.View(func(tx *Tx) error {
			mcs, err := tx.MailListed(closed)
			for _, mc := range mcs {
				ids = append(ids, mc.ID)
			}
			return err
		}))
		return ids
	}
	closed := func(id string, day int) MailCase {
		return MailCase{ID: id, Closed: true, ClosedAt: t0.AddDate(0, 0, day)}
	}
	put(MailCase{ID: "OPN-0001"}, closed("CLS-0003", 3), closed("CLS-0001", 1), closed("CLS-0002", 2), MailCase{ID: "OPN-0002"})
	if got := listed(2); !slices.Equal(got, []string{"OPN-0001", "OPN-0002", "CLS-0003", "CLS-0002"}) {
		t.Fatalf("listed %v", got)
	}
	if got := listed(0); !slices.Equal(got, []string{"OPN-0001", "OPN-0002"}) {
		t.Fatalf("listed without closed %v", got)
	}
	// Closing, closing again later, reopening and purging move a case.
	put(closed("OPN-0001", 4))
	if got := listed(1); !slices.Equal(got, []string{"OPN-0002", "OPN-0001"}) {
		t.Fatalf("after closing: %v", got)
	}
	put(closed("CLS-0001", 5))
	if got := listed(10); !slices.Equal(got, []string{"OPN-0002", "CLS-0001", "OPN-0001", "CLS-0003", "CLS-0002"}) {
		t.Fatalf("after closing again: %v", got)
	}
	put(MailCase{ID: "CLS-0003"}, MailCase{ID: "CLS-0002", Closed: true, ClosedAt: t0.AddDate(0, 0, 2), Purged: true})
	if got := listed(10); !slices.Equal(got, []string{"CLS-0003", "OPN-0002", "CLS-0001", "OPN-0001"}) {
		t.Fatalf("after reopening and purging: %v", got)
	}
	mustDo(t, s.View(func(tx *Tx) error {
		if n, m := tx.tx.Bucket(bMailOpen).Stats().KeyN, tx.tx.Bucket(bMailClosed).Stats().KeyN; n != 2 || m != 2 {
			return fmt.Errorf("%d open and %d closed entries, want 2 and 2", n, m)
		}
		return nil
	}))
	// MailSeen only moves on.
	mustDo(t, s.Update(func(tx *Tx) error {
		if err := tx.SetMailSeen(7); err != nil {
			return err
		}
		return tx.SetMailSeen(3)
	}))
	mustDo(t, s.View(func(tx *Tx) error {
		if tx.MailSeen() != 7 {
			return fmt.Errorf("mail seen %d, want 7", tx.MailSeen())
		}
		return nil
	}))
}

// TestMigrateChangeLog opens a schema 2 file whose mailbox index is up to
// date with some cases and not others.
func TestMigrateChangeLog(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mustDo(t, s.Update(func(tx *Tx) error {
		for i, id := range []string{"CUR-0001", "CUR-0002", "OLD-0001", "NEW-0001"} {
			c := &Case{ID: id, State: StateOpen, Created: t0}
			if i%2 == 1 {
				c.State, c.Closed = StateClosed, t0.AddDate(0, 0, i)
			}
			if err := tx.PutCase(c); err != nil {
				return err
			}
			mid, _ := tx.NextMessageID()
			if err := tx.PutMessage(&Message{ID: mid, CaseID: id}); err != nil {
				return err
			}
		}
		return nil
	}))
	// Schema 2: no change log, no lists; MailCase stamps as schema 2 made them.
	mustDo(t, s.db.Update(func(btx *bolt.Tx) error {
		for _, b := range [][]byte{bCaseChange, bCasesByChange, bMailOpen, bMailClosed} {
			if err := btx.DeleteBucket(b); err != nil {
				return err
			}
		}
		tx := &Tx{tx: btx}
		for _, id := range []string{"CUR-0001", "CUR-0002", "OLD-0001"} {
			mc := MailCase{ID: id, Label: "Shop", Closed: id == "CUR-0002", Stamp: legacyStamp(btx, []byte(id), btx.Bucket(bCases).Get([]byte(id)))}
			if id == "OLD-0001" {
				mc.Stamp++ // the index had not seen its last change
			}
			if err := tx.put(bMailCases, []byte(id), mc); err != nil {
				return err
			}
		}
		return btx.Bucket(bMeta).Put([]byte("schema"), itob(2))
	}))
	s.Close()
	s = open(t, dir)
	defer s.Close()
	checkChangeLog(t, s)
	mustDo(t, s.View(func(tx *Tx) error {
		if v := btoi(tx.tx.Bucket(bMeta).Get([]byte("schema"))); v != SchemaVersion {
			return fmt.Errorf("schema %d after migration", v)
		}
		if ids, _ := tx.CasesChangedAfter(tx.MailSeen(), 0); !slices.Equal(ids, []string{"NEW-0001", "OLD-0001"}) {
			return fmt.Errorf("to index after migration: %v", ids)
		}
		mcs, err := tx.MailListed(10)
		if err != nil {
			return err
		}
		if len(mcs) != 3 || mcs[0].ID != "CUR-0001" || mcs[1].ID != "OLD-0001" || mcs[2].ID != "CUR-0002" {
			return fmt.Errorf("listed after migration: %+v", mcs)
		}
		if cl := mcs[2]; !cl.ClosedAt.Equal(t0.AddDate(0, 0, 1)) || cl.Stamp != tx.CaseStamp(cl.ID) {
			return fmt.Errorf("closed case after migration: %+v (stamp %d)", cl, tx.CaseStamp(cl.ID))
		}
		return nil
	}))
}
