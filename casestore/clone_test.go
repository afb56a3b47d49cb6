package casestore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// shared reports the first path at which a and b share memory.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
		if !a.IsNil() {
			return shared(a.Elem(), b.Elem(), path)
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := 0; i < a.Len(); i++ {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
	}
	return ""
}

// The transaction's case cache hands out clones; a clone that shared a
// slice or pointer with the cached row would let a caller's unsaved change
// reach the next caller of the same group commit.
func TestCaseCloneSharesNothing(t *testing.T) {
	var c Case
	fill(reflect.ValueOf(&c).Elem(), 0) // every pointer set, every slice two long: a field added later is covered
	d := c.clone()
	if !reflect.DeepEqual(&c, d) {
		t.Fatalf("clone differs:\n%+v\n%+v", c, *d)
	}
	if p := shared(reflect.ValueOf(&c).Elem(), reflect.ValueOf(d).Elem(), "Case"); p != "" {
		t.Fatalf("clone shares %s with the original", p)
	}
}

// A case changed by one caller and not put is seen unchanged by the next
// caller of the same transaction; a case put is seen as put.
func TestTxCaseCacheCopies(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Update(func(tx *Tx) error {
		return tx.PutCase(&Case{ID: "C-1", State: StateOpen, Consumer: Party{Thread: []string{"<a@x>"}}})
	}); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx *Tx) error {
		c, err := tx.Case("C-1")
		if err != nil {
			return err
		}
		c.State = StateClosed
		c.Consumer.Thread[0] = "<changed@x>"
		c2, _ := tx.Case("C-1")
		if c2.State != StateOpen || c2.Consumer.Thread[0] != "<a@x>" {
			t.Errorf("an unsaved change leaked: %s %v", c2.State, c2.Consumer.Thread)
		}
		c2.State = StateChoice
		if err := tx.PutCase(c2); err != nil {
			return err
		}
		c2.Consumer.Thread = append(c2.Consumer.Thread, "<after-put@x>")
		c3, _ := tx.Case("C-1")
		if c3.State != StateChoice || len(c3.Consumer.Thread) != 1 {
			t.Errorf("after put: %s %v", c3.State, c3.Consumer.Thread)
		}
		// A copy from the cache, changed and not put, leaves no trace either.
		c3.State = StateClosed
		c3.Consumer.Thread[0] = "<cached-changed@x>"
		if c4, _ := tx.Case("C-1"); c4.State != StateChoice || c4.Consumer.Thread[0] != "<a@x>" {
			t.Errorf("an unsaved change to a cached copy leaked: %s %v", c4.State, c4.Consumer.Thread)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// EventHash hashes the JSON encoding/json writes for the event (as exported
// case files were verified before it used encodeRow): filled events, odd
// zones and invalid UTF-8 hash the same either way.
func TestEventHashUnchanged(t *testing.T) {
	texts := []string{"é ✓", "<b>&amp;</b>", "line\u2028para", "bad \xff utf-8", "\x00\x7f"}
	for _, text := range texts {
		var ev Event
		fillWith(reflect.ValueOf(&ev).Elem(), 0, text)
		old := ev
		old.Hash, old.Text = "", ""
		b, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		h.Write([]byte(old.Prev))
		h.Write(b)
		if want := hex.EncodeToString(h.Sum(nil)); EventHash(ev) != want {
			t.Errorf("text %q: EventHash %s, with encoding/json %s", text, EventHash(ev), want)
		}
	}
}

// TestCasePurged agrees with the whole row, read from the file or changed
// earlier in the same transaction, and reports a case that is not there.
func TestCasePurged(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	mustDo(t, s.Update(func(tx *Tx) error {
		for _, c := range []*Case{{ID: "AAA-0001", State: StateOpen}, {ID: "AAA-0002", State: StateClosed, Purged: true}} {
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		return nil
	}))
	mustDo(t, s.Update(func(tx *Tx) error {
		for id, want := range map[string]bool{"AAA-0001": false, "AAA-0002": true} {
			if got, err := tx.CasePurged(id); err != nil || got != want {
				t.Errorf("CasePurged(%s) = %v, %v; want %v", id, got, err, want)
			}
		}
		if _, err := tx.CasePurged("ZZZ-9999"); !errors.Is(err, ErrNotFound) {
			t.Errorf("CasePurged of a missing case: %v, want ErrNotFound", err)
		}
		c, err := tx.Case("AAA-0001")
		if err != nil {
			return err
		}
		c.Purged = true
		if err := tx.PutCase(c); err != nil {
			return err
		}
		if got, err := tx.CasePurged("AAA-0001"); err != nil || !got {
			t.Errorf("CasePurged after a purge in the same transaction = %v, %v", got, err)
		}
		return nil
	}))
}
