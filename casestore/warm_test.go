package casestore

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// resident reports how many of the pages holding v are in the page cache.
func resident(t *testing.T, v []byte) (in, all int) {
	t.Helper()
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&v[0])) &^ (ps - 1)
	end := uintptr(unsafe.Pointer(&v[len(v)-1])) + 1
	vec := make([]byte, (end-start+ps-1)/ps)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, start, end-start, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	for _, b := range vec {
		if b&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}

// TestWarmCaseReadsThePurgesPages drops a store file from the page cache and
// checks that WarmCase brings back every page of a case's inline raw mail
// (the largest rows a purge rewrites) and changes nothing.
func TestWarmCaseReadsThePurgesPages(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	raw := bytes.Repeat([]byte("x"), InlineMax)
	sum := "warm-test-sum"
	c := realCase("C-WARM", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), StateClosed)
	mustDo(t, s.Update(func(tx *Tx) error {
		if err := tx.PutCase(c); err != nil {
			return err
		}
		id, err := tx.NextMessageID()
		if err != nil {
			return err
		}
		if err := tx.PutRawInline(sum, raw); err != nil {
			return err
		}
		if _, err := tx.RefRaw(sum, 1); err != nil {
			return err
		}
		return tx.PutMessage(&Message{ID: id, CaseID: c.ID, MessageID: "<m@x>", SHA256: sum, Received: c.Created})
	}))
	path := s.db.Path()
	before := dump(t, s)
	mustDo(t, s.Close())

	// Out of the page cache (clean pages, mapped by no one now), then open again.
	f, err := os.Open(path)
	mustDo(t, err)
	mustDo(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
	f.Close()
	s = open(t, dir)
	defer s.Close()
	tail := func() (in, all int) {
		mustDo(t, s.View(func(tx *Tx) error {
			v := tx.inlineRaw(sum)
			if len(v) != InlineMax {
				t.Fatalf("raw content is %d bytes, want %d", len(v), InlineMax)
			}
			// The last 64 KiB: far enough from the leaf's header, which the
			// lookup itself faults in with the kernel's read-around.
			in, all = resident(t, v[len(v)-64<<10:])
			return nil
		}))
		return in, all
	}
	if in, all := tail(); in == all {
		t.Skipf("the page cache keeps the store file here (%d of %d pages resident after FADV_DONTNEED)", in, all)
	}
	if err := s.WarmCase(c.ID); err != nil {
		t.Fatal(err)
	}
	if in, all := tail(); in != all {
		t.Errorf("after WarmCase %d of %d pages of the case's raw mail are resident, want all", in, all)
	}
	if err := s.WarmCase("C-GONE"); err != nil {
		t.Errorf("WarmCase of a case that is not there: %v", err)
	}
	if after := dump(t, s); after != before {
		t.Error("WarmCase changed the store's rows")
	}
}

// dump is every bucket's keys and values, in order.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	mustDo(t, s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			fmt.Fprintf(&b, "[%s]\n", name)
			return bk.ForEach(func(k, v []byte) error { fmt.Fprintf(&b, "%q=%q\n", k, v); return nil })
		})
	}))
	return b.String()
}
