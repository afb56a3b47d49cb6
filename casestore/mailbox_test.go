package casestore

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMailboxIndex(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	s, err := Open(t.TempDir(), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var a, b MailFolder
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Update(func(tx *Tx) (err error) {
		if a, err = tx.EnsureMailFolder("c/A"); err != nil {
			return err
		}
		b, err = tx.EnsureMailFolder("c/B")
		return err
	}))
	if a.UIDValidity != uint32(now.Unix()) || b.UIDValidity != a.UIDValidity+1 || a.UIDNext != 1 {
		t.Fatalf("folders %+v %+v: UIDVALIDITY must be unique and start at the time", a, b)
	}
	must(s.Update(func(tx *Tx) error {
		again, err := tx.EnsureMailFolder("c/A")
		if err != nil || again != a {
			t.Errorf("EnsureMailFolder changed an existing folder: %+v %v", again, err)
		}
		uids, err := tx.MailAppend("c/A", "A/m1", "A/o2", "A/n3")
		if err != nil || !slices.Equal(uids, []uint32{1, 2, 3}) {
			t.Errorf("append: %v %v", uids, err)
		}
		uids, err = tx.MailAppend("c/A", "A/o2", "A/m4")
		if err != nil || !slices.Equal(uids, []uint32{2, 4}) {
			t.Errorf("append again: %v %v", uids, err)
		}
		if uid, err := tx.MailRemove("c/A", "A/o2"); uid != 2 || err != nil {
			t.Errorf("remove: %d %v", uid, err)
		}
		uids, err = tx.MailAppend("c/A", "A/o2")
		if err != nil || !slices.Equal(uids, []uint32{5}) {
			t.Errorf("a removed item comes back with a new UID, got %v %v", uids, err)
		}
		if _, err := tx.MailAppend("c/none", "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("append to a missing folder: %v", err)
		}
		return nil
	}))
	must(s.View(func(tx *Tx) error {
		es, err := tx.MailEntries("c/A")
		if err != nil {
			return err
		}
		want := []MailEntry{{1, "A/m1"}, {3, "A/n3"}, {4, "A/m4"}, {5, "A/o2"}}
		if !slices.Equal(es, want) {
			t.Errorf("entries %v, want %v", es, want)
		}
		if f, _ := tx.MailFolder("c/A"); f.UIDNext != 6 {
			t.Errorf("UIDNEXT %d", f.UIDNext)
		}
		items, _ := tx.MailItems("c/A", "A/m")
		if len(items) != 2 || items[0].Item != "A/m1" || items[1].UID != 4 {
			t.Errorf("items by prefix %v", items)
		}
		return nil
	}))
	must(s.Update(func(tx *Tx) error {
		if err := tx.SetMailFlags("A/m1", []string{`\Seen`, "$Work"}); err != nil {
			return err
		}
		if err := tx.SetMailFlags("A/m1", []string{"bad flag"}); err == nil {
			t.Error("a flag with a space was stored")
		}
		if k, isNew, _ := tx.AddMailKeyword("$Work"); k != "$Work" || !isNew {
			t.Errorf("first keyword %q %v", k, isNew)
		}
		if k, isNew, _ := tx.AddMailKeyword("$WORK"); k != "$Work" || isNew {
			t.Errorf("keyword in other case %q %v", k, isNew)
		}
		return nil
	}))
	must(s.View(func(tx *Tx) error {
		if f := tx.MailFlags("A/m1"); !slices.Equal(f, []string{`\Seen`, "$Work"}) {
			t.Errorf("flags %q", f)
		}
		if k := tx.MailKeywords(); !slices.Equal(k, []string{"$Work"}) {
			t.Errorf("keywords %q", k)
		}
		return nil
	}))
	must(s.Update(func(tx *Tx) error { return tx.DeleteMailFlags("A/") }))
	must(s.View(func(tx *Tx) error {
		if f := tx.MailFlags("A/m1"); f != nil {
			t.Errorf("flags after delete %q", f)
		}
		return nil
	}))
}
