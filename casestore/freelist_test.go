package casestore

import (
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// freelistPage reads the current meta page of a closed bbolt file (the one of
// the two with the higher transaction id) and returns its freelist page id;
// all ones means "not written: rebuild by walking the file". The layout is
// bbolt's: a 16-byte page header, then magic, version, page size, flags
// (4 bytes each), the root bucket (16), the freelist page id, the high
// water mark and the transaction id (8 each), in the machine's byte order
// (little-endian here).
func freelistPage(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	pageSize := int(le.Uint32(b[16+8:]))
	var best, freelist uint64
	for _, off := range []int{0, pageSize} {
		m := b[off+16:]
		if le.Uint32(m) != 0xED0CDAED {
			t.Fatalf("no bbolt meta page at %d", off)
		}
		if txid := le.Uint64(m[48:]); txid >= best {
			best, freelist = txid, le.Uint64(m[32:])
		}
	}
	return freelist
}

// TestCloseSavesFreelist: commits leave the free page list unwritten (the
// next start would walk the whole file to rebuild it); a clean Close writes
// it, and the store opens from it and works on.
func TestCloseSavesFreelist(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	put := func(s *Store, n int) {
		t.Helper()
		if err := s.Update(func(tx *Tx) error {
			for i := 0; i < n; i++ {
				if err := tx.PutCase(realCase(string(rune('A'+i%26))+time.Duration(i).String(), time.Unix(int64(i), 0), StateOpen)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(s, 500)
	put(s, 500) // rewrites: pages freed
	s.Close()
	if freelistPage(t, DBPath(dir)) == ^uint64(0) {
		t.Fatal("after a clean Close the free page list is not in the file")
	}
	s = open(t, dir)
	put(s, 700)
	checkStates(t, s, "after reopening from the saved free page list")
	if err := s.db.Sync(); err != nil {
		t.Fatal(err)
	}
	if freelistPage(t, DBPath(dir)) != ^uint64(0) {
		t.Error("a commit wrote the free page list (NoFreelistSync is off)")
	}
	s.Close()
	if freelistPage(t, DBPath(dir)) == ^uint64(0) {
		t.Fatal("after the second Close the free page list is not in the file")
	}
}
