package casestore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scanCaseless is CaselessMessages the slow way: every message row read.
func scanCaseless(t *testing.T, s *Store, cutoff time.Time) []uint64 {
	t.Helper()
	var ids []uint64
	if err := s.View(func(tx *Tx) error {
		return tx.tx.Bucket(bMessages).ForEach(func(k, v []byte) error {
			var m Message
			if err := decodeRow(v, &m); err != nil {
				return err
			}
			if caseless(&m) && m.Received.Before(cutoff) {
				ids = append(ids, m.ID)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func caselessIDs(t *testing.T, s *Store, cutoff time.Time, limit int) []uint64 {
	t.Helper()
	var ids []uint64
	if err := s.View(func(tx *Tx) error {
		msgs, err := tx.CaselessMessages(cutoff, limit)
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestCaselessIndexFollowsMessages(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 60 messages received out of id order: every third gets a case, every
	// fifth is left unprocessed, every seventh is purged afterwards.
	if err := s.Update(func(tx *Tx) error {
		for i := 0; i < 60; i++ {
			id, err := tx.NextMessageID()
			if err != nil {
				return err
			}
			m := &Message{ID: id, Received: base.Add(time.Duration((i*37)%60) * time.Hour), SHA256: fmt.Sprintf("%064d", i)}
			if err := tx.PutMessage(m); err != nil { // accepted, not yet processed
				return err
			}
			m.Processed = i%5 != 0
			if i%3 == 0 {
				m.CaseID = "C-1"
			}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			if i%7 == 0 {
				m.SHA256 = ""
				if err := tx.PutMessage(m); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cutoff := base.Add(40 * time.Hour)
	check := func(when string) {
		t.Helper()
		want := scanCaseless(t, s, cutoff)
		got := caselessIDs(t, s, cutoff, 1000)
		if len(want) == 0 || fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
			t.Fatalf("%s: index lists %v, a scan finds %v", when, got, want)
		}
		if first := caselessIDs(t, s, cutoff, 3); len(first) != 3 || fmt.Sprint(first) != fmt.Sprint(got[:3]) {
			t.Fatalf("%s: limit 3 gives %v, want the oldest three of %v", when, first, got)
		}
	}
	check("as written")

	// A file from before the index (schema 3) gets it when opened.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bCaseless); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), itob(3))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	check("after the migration from schema 3")
}

func sorted(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
