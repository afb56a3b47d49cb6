package casestore

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAppendOnlyPagesFilled: messages and outbound rows written as intake
// writes them (a few a commit, ids in order) leave their trees' pages about
// nine tenths full, not half, also after a restart (bbolt keeps no fill
// percent in the file). Buckets keyed by case id keep bbolt's default.
func TestAppendOnlyPagesFilled(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	write := func(s *Store, from, to int) {
		t.Helper()
		for i := from; i < to; i += 3 {
			err := s.Update(func(tx *Tx) error {
				for j := i; j < i+3; j++ {
					id, err := tx.NextMessageID()
					if err != nil {
						return err
					}
					caseID := fmt.Sprintf("C%02d-%04d", j%7, j)
					m := &Message{ID: id, CaseID: caseID, Received: at.Add(time.Duration(j) * time.Second),
						From: fmt.Sprintf("buyer%d@example.org", j), Subject: "Re: order " + strings.Repeat("x", j%40),
						MessageID: fmt.Sprintf("<%d@mail.example.org>", j), SHA256: fmt.Sprintf("%064x", j)}
					if err := tx.PutMessage(m); err != nil {
						return err
					}
					o := &Outbound{CaseID: caseID, To: "shop@example.com", State: OutQueued, Created: m.Received}
					if err := tx.AddOutbound(o, fmt.Appendf(nil, "To: shop@example.com\r\n\r\nrelay %d\r\n", j)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	fill := func(s *Store, name []byte) float64 {
		var f float64
		if err := s.View(func(tx *Tx) error {
			st := tx.tx.Bucket(name).Stats()
			if st.LeafAlloc == 0 {
				t.Fatalf("%s: no pages of its own (%d keys)", name, st.KeyN)
			}
			f = float64(st.LeafInuse) / float64(st.LeafAlloc)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(s, 0, 1500)
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(s, 1500, 3000)
	for _, name := range [][]byte{bMessages, bOutbound} {
		if f := fill(s, name); f < 0.8 {
			t.Errorf("%s: pages %.0f %% full, want at least 80 %%", name, 100*f)
		}
	}
	if f := fill(s, bCaseMsgs); f > 0.8 {
		t.Errorf("%s (keyed by case id): pages %.0f %% full: the append-only fill reached it", bCaseMsgs, 100*f)
	}
}
