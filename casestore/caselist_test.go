package casestore

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestCasesPageNewestFirst(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 120
	if err := s.Update(func(tx *Tx) error {
		for i := 0; i < n; i++ {
			// Ids out of time order, two cases in the same nanosecond.
			c := &Case{ID: fmt.Sprintf("C%03d", (i*37)%n), Created: base.Add(time.Duration(i/2) * time.Hour), State: StateOpen}
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pages := func(s *Store) (all []Case) {
		t.Helper()
		after := ""
		for round := 0; ; round++ {
			var page []Case
			var more bool
			if err := s.View(func(tx *Tx) (err error) { page, more, err = tx.CasesPage(50, after); return err }); err != nil {
				t.Fatal(err)
			}
			if want := min(50, n-len(all)); len(page) != want {
				t.Fatalf("page %d: %d cases, want %d", round, len(page), want)
			}
			all = append(all, page...)
			if !more {
				return all
			}
			after = page[len(page)-1].ID
		}
	}
	check := func(all []Case) {
		t.Helper()
		seen := map[string]bool{}
		for i, c := range all {
			if seen[c.ID] {
				t.Fatalf("case %s listed twice", c.ID)
			}
			seen[c.ID] = true
			if i > 0 && c.Created.After(all[i-1].Created) {
				t.Fatalf("not newest first at %d: %v after %v", i, c.Created, all[i-1].Created)
			}
		}
		if len(seen) != n {
			t.Fatalf("%d cases listed, want %d", len(seen), n)
		}
	}
	check(pages(s))

	// A file from before the index (schema 1) gets it when opened.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bCasesByCreated); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bCasesByCreated); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), itob(1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check(pages(s))
	s.View(func(tx *Tx) error {
		if v := btoi(tx.tx.Bucket(bMeta).Get([]byte("schema"))); v != SchemaVersion {
			t.Errorf("schema %d after migration", v)
		}
		return nil
	})
	if err := s.View(func(tx *Tx) error { _, _, err := tx.CasesPage(10, "NOPE-0000"); return err }); err == nil {
		t.Error("--after an unknown case: no error")
	}
}

// A case's message count is kept as messages are added (a row written again
// is not counted twice), and a schema 6 file gets it counted at open; a
// message id holding a '/' byte (47) is read right.
func TestCaseMessageCount(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := map[string]int{"A-0001": 50, "B-0002": 3}
	mustDo(t, s.Update(func(tx *Tx) error {
		for id, n := range want {
			for i := 0; i < n; i++ {
				mid, err := tx.NextMessageID()
				if err != nil {
					return err
				}
				m := &Message{ID: mid, CaseID: id}
				if err := tx.PutMessage(m); err != nil {
					return err
				}
				if err := tx.PutMessage(m); err != nil { // written again (processed, purged)
					return err
				}
			}
		}
		return tx.PutMessage(&Message{ID: 9999}) // of no case
	}))
	check := func(when string) {
		mustDo(t, s.View(func(tx *Tx) error {
			for id, n := range want {
				if got := tx.CaseMessageCount(id); got != n {
					t.Errorf("%s: %s has %d messages counted, want %d", when, id, got, n)
				}
			}
			if got := tx.CaseMessageCount("C-0003"); got != 0 {
				t.Errorf("%s: a case without messages counts %d", when, got)
			}
			return nil
		}))
	}
	check("counted as added")
	// Schema 6: no counts.
	mustDo(t, s.db.Update(func(btx *bolt.Tx) error {
		if err := btx.DeleteBucket(bCaseMsgCounts); err != nil {
			return err
		}
		return btx.Bucket(bMeta).Put([]byte("schema"), itob(6))
	}))
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check("migrated")
}
