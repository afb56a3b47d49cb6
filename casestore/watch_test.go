package casestore

import (
	"errors"
	"reflect"
	"testing"
)

func TestWatchNamesChangedCases(t *testing.T) {
	s := open(t, t.TempDir())
	w := s.Watch()
	defer w.Close()
	other := s.Watch()
	other.Close()
	if w.Pending() {
		t.Fatal("pending before any commit")
	}
	// A commit that writes a case, a message of another and an outbound row
	// of a third names all three; Update returns after the watcher knows.
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutCase(&Case{ID: "AAA-0001", State: StateOpen}); err != nil {
			return err
		}
		if err := tx.PutMessage(&Message{ID: 1, CaseID: "BBB-0002"}); err != nil {
			return err
		}
		if err := tx.PutMessage(&Message{ID: 2}); err != nil { // no case
			return err
		}
		return tx.AddOutbound(&Outbound{CaseID: "CCC-0003", To: "x@example.org"}, []byte("hello"))
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changed():
	default:
		t.Fatal("no signal after a commit")
	}
	if got, want := w.Take(), []Change{{"AAA-0001", []uint64{}}, {"BBB-0002", []uint64{1}}, {"CCC-0003", []uint64{}}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Take = %v, want %v", got, want)
	}
	if got := w.Take(); len(got) != 0 {
		t.Fatalf("second Take = %v", got)
	}
	// A function that fails is rolled back and names nothing.
	boom := errors.New("boom")
	if err := s.Update(func(tx *Tx) error {
		if err := tx.PutCase(&Case{ID: "DDD-0004"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if w.Pending() {
		t.Fatalf("a rolled-back write was announced: %v", w.Take())
	}
	// Requeued cases come back; a closed watcher hears nothing.
	w.Requeue([]Change{{"AAA-0001", []uint64{7, 3}}})
	if err := s.Update(func(tx *Tx) error { return tx.PutMessage(&Message{ID: 5, CaseID: "AAA-0001"}) }); err != nil {
		t.Fatal(err)
	}
	if got := w.Take(); !reflect.DeepEqual(got, []Change{{"AAA-0001", []uint64{3, 5, 7}}}) {
		t.Fatalf("after Requeue and a commit: %v", got)
	}
	if other.Pending() {
		t.Fatal("a closed watcher was told")
	}
}
