package casestore

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// New inline content goes to raw_seq in the order it is stored (the right
// edge of the tree), found by its digest through raw_refs; unreferenced, it
// stays until DeleteRawInline, which leaves nothing behind.
func TestRawContentInSequence(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	sums := []string{"c3", "a1", "b2"} // digests in no order
	mustDo(t, s.Update(func(tx *Tx) error {
		for _, sum := range sums {
			if err := tx.PutRawInline(sum, []byte("content "+sum)); err != nil {
				return err
			}
			if err := tx.PutRawInline(sum, []byte("again")); err != nil { // write once
				return err
			}
			if _, err := tx.RefRaw(sum, 2); err != nil {
				return err
			}
		}
		return nil
	}))
	mustDo(t, s.View(func(tx *Tx) error {
		var keys []uint64
		tx.tx.Bucket(bRawSeq).ForEach(func(k, v []byte) error {
			keys = append(keys, binary.BigEndian.Uint64(k))
			return nil
		})
		if len(keys) != 3 || keys[0] != 1 || keys[2] != 3 {
			t.Errorf("raw_seq keys %v, want 1 2 3", keys)
		}
		if n := tx.tx.Bucket(bRaw).Stats().KeyN; n != 0 {
			t.Errorf("raw (digest keys) holds %d, want 0", n)
		}
		for i, sum := range sums {
			if got := string(tx.RawInline(sum)); got != "content "+sum {
				t.Errorf("RawInline(%s) = %q", sum, got)
			}
			if r := tx.rawRef(sum); r.seq != uint64(i+1) || r.count != 2 {
				t.Errorf("raw_refs %s = %+v, want seq %d count 2", sum, r, i+1)
			}
		}
		refs, err := tx.BlobRefs()
		if err != nil || len(refs.Counted) != 0 || len(refs.Named) != 0 {
			t.Errorf("BlobRefs counts inline content as blobs: %+v %v", refs, err)
		}
		return nil
	}))
	mustDo(t, s.Update(func(tx *Tx) error {
		if unused, err := tx.RefRaw("a1", -1); err != nil || unused {
			t.Errorf("one reference left: unused %v, %v", unused, err)
		}
		if unused, err := tx.RefRaw("a1", -1); err != nil || !unused {
			t.Errorf("no reference left: unused %v, %v", unused, err)
		}
		if tx.RawInline("a1") == nil {
			t.Error("unreferenced content gone before DeleteRawInline")
		}
		return tx.DeleteRawInline("a1")
	}))
	mustDo(t, s.View(func(tx *Tx) error {
		if tx.RawInline("a1") != nil || tx.tx.Bucket(bRawRefs).Get([]byte("a1")) != nil || tx.tx.Bucket(bRawSeq).Get(itob(2)) != nil {
			t.Error("deleted content left a row behind")
		}
		if tx.RawInline("b2") == nil || tx.RawInline("c3") == nil {
			t.Error("deleting one content took another")
		}
		return nil
	}))
}

// Content a schema 5 store kept under its digest in raw stays readable,
// is not stored again, counts its references in the old format and is
// deleted from raw.
func TestRawContentOfSchema5(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	mustDo(t, s.Update(func(tx *Tx) error {
		if err := tx.tx.Bucket(bRaw).Put([]byte("old"), []byte("old content")); err != nil {
			return err
		}
		return tx.tx.Bucket(bRawRefs).Put([]byte("old"), itob(1))
	}))
	mustDo(t, s.Update(func(tx *Tx) error {
		if err := tx.PutRawInline("old", []byte("old content")); err != nil {
			return err
		}
		_, err := tx.RefRaw("old", 1)
		return err
	}))
	mustDo(t, s.View(func(tx *Tx) error {
		if n := tx.tx.Bucket(bRawSeq).Stats().KeyN; n != 0 {
			t.Errorf("content kept in raw stored again in raw_seq (%d)", n)
		}
		if !bytes.Equal(tx.RawInline("old"), []byte("old content")) || tx.RawRefs("old") != 2 {
			t.Errorf("old content %q, %d references", tx.RawInline("old"), tx.RawRefs("old"))
		}
		if v := tx.tx.Bucket(bRawRefs).Get([]byte("old")); len(v) != 8 {
			t.Errorf("old content's count is %d bytes, want 8", len(v))
		}
		refs, _ := tx.BlobRefs()
		if refs.Keeps("old") {
			t.Error("inline content counted as a blob")
		}
		return nil
	}))
	mustDo(t, s.Update(func(tx *Tx) error {
		tx.RefRaw("old", -2)
		return tx.DeleteRawInline("old")
	}))
	mustDo(t, s.View(func(tx *Tx) error {
		if tx.RawInline("old") != nil || tx.tx.Bucket(bRawRefs).Get([]byte("old")) != nil {
			t.Error("old content left behind")
		}
		return nil
	}))
}
