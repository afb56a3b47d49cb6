package casestore

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scanStates counts the cases by state the slow way, from every row.
func scanStates(t *testing.T, s *Store) map[string]int {
	t.Helper()
	out := map[string]int{StateIntake: 0, StateOpen: 0, StateChoice: 0, StateMediation: 0, StateClosed: 0}
	if err := s.View(func(tx *Tx) error {
		cases, err := tx.Cases()
		for _, c := range cases {
			out[c.State]++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkStates(t *testing.T, s *Store, when string) {
	t.Helper()
	var got map[string]int
	if err := s.View(func(tx *Tx) (err error) { got, err = tx.CaseStates(); return err }); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if want := scanStates(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: counts %v, a scan finds %v", when, got, want)
	}
}

// realCase is a case row as the procedure writes them: parties, timers, a
// proposal and an undoable choice whose snapshot holds a state of its own.
func realCase(id string, created time.Time, state string) *Case {
	c := &Case{ID: id, Created: created, State: state, Title: `A "title", with ,"state":"closed" in it`,
		Intake:   "complaints@disputes.example",
		Consumer: Party{Role: "consumer", Name: "Ana", Email: "ana@example.org", Lang: "en"},
		Trader:   Party{Role: "trader", Name: "Shop", Email: "shop@example.com", Lang: "en", Thread: []string{"<a@x>", "<b@x>"}},
		Fields:   Fields{}, Events: 4, EvidenceCount: 2,
		Timers:   []Timer{{Kind: "window", Due: created.Add(14 * 24 * time.Hour)}},
		Proposal: &Proposal{},
		Undoable: &Undoable{Choice: "mediation", Before: Procedure{State: StateChoice}},
	}
	if state == StateClosed {
		c.Closed = created.Add(30 * 24 * time.Hour)
	}
	return c
}

func TestCaseCountsFollowEveryWrite(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	states := []string{StateIntake, StateOpen, StateChoice, StateMediation, StateClosed}
	var ids []string
	for round := 0; round < 20; round++ {
		err := s.Update(func(tx *Tx) error {
			for i := 0; i < 25; i++ {
				switch op := rng.IntN(4); {
				case op == 0 || len(ids) == 0: // a new case
					id := fmt.Sprintf("C-%04d", len(ids))
					ids = append(ids, id)
					if err := tx.PutCase(realCase(id, base.Add(time.Duration(len(ids))*time.Minute), StateIntake)); err != nil {
						return err
					}
				default: // a move, a purge, or a write that keeps the state
					c, err := tx.Case(ids[rng.IntN(len(ids))])
					if err != nil {
						return err
					}
					switch op {
					case 1:
						c.State = states[rng.IntN(len(states))]
					case 2:
						c.State, c.Closed, c.Purged = StateClosed, base, true
					}
					if err := tx.PutCase(c); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkStates(t, s, fmt.Sprintf("round %d", round))
	}
	// A failed transaction leaves the counts as they were.
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutCase(realCase("C-FAIL", base, StateOpen)); err != nil {
			return err
		}
		return fmt.Errorf("give up")
	}); err == nil {
		t.Fatal("a failing update succeeded")
	}
	checkStates(t, s, "after a rolled back write")

	// A file from before the counts (schema 2) gets them when opened.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bCaseCounts); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put([]byte("schema"), itob(2))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	checkStates(t, s, "after the migration from schema 2")
	s.View(func(tx *Tx) error {
		if v := btoi(tx.tx.Bucket(bMeta).Get([]byte("schema"))); v != SchemaVersion {
			t.Errorf("schema %d after migration", v)
		}
		return nil
	})
}

func TestRowStateMatchesDecode(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	for _, c := range []*Case{
		realCase("C-1", now, StateMediation),
		realCase(`C-"quoted",\`, now, StateClosed),
		{ID: "C-2", State: "odd\"state"},
		{ID: "C-3"},
	} {
		row, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowState(row)
		if err != nil || got != c.State {
			t.Errorf("%s: rowState %q, %v; want %q", c.ID, got, err, c.State)
		}
	}
	// Fields in another order (a row from a hand-edited file) are decoded.
	if got, err := rowState([]byte(`{"undoable":{"before":{"state":"choice"}},"id":"X","state":"open"}`)); err != nil || got != StateOpen {
		t.Errorf("reordered row: %q, %v", got, err)
	}
}

// BenchmarkPutCase rewrites existing cases (the common write: a message in a
// busy case), half of them moving state, in one transaction.
func BenchmarkPutCase(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1000
	cases := make([]*Case, n)
	for i := range cases {
		cases[i] = realCase(fmt.Sprintf("C-%04d", i), base.Add(time.Duration(i)*time.Minute), StateOpen)
	}
	if err := s.Update(func(tx *Tx) error {
		for _, c := range cases {
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	states := []string{StateOpen, StateOpen, StateMediation, StateOpen}
	err = s.db.Update(func(btx *bolt.Tx) error {
		tx := &Tx{tx: btx, s: s}
		i := 0
		for b.Loop() {
			c := cases[i%n]
			c.State = states[i%len(states)]
			if err := tx.PutCase(c); err != nil {
				return err
			}
			i++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
