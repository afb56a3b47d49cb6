//go:build linux

package casestore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rssFile is the process's resident mapped file pages, in bytes
// (/proc/self/status), or -1.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return -1
}

// TestReleaseMapped reads 16 MB of rows (mapping their pages), releases the
// mapping and reads them again, with readers running meanwhile: the
// resident mapped pages drop by most of what the read mapped, and every row
// reads back the same (the pages come back from the page cache).
func TestReleaseMapped(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	const rows, size = 4000, 4096
	err := s.Update(func(tx *Tx) error {
		for i := range rows {
			v := bytes.Repeat([]byte{byte(i)}, size)
			copy(v, fmt.Sprintf("row %d", i))
			sum := sha256.Sum256(v)
			if err := tx.PutRawInline(fmt.Sprintf("%x", sum), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readAll := func() (sum [32]byte, err error) {
		h := sha256.New()
		err = s.View(func(tx *Tx) error {
			return tx.tx.Bucket(bRawSeq).ForEach(func(k, v []byte) error {
				h.Write(v) // touches every page of the value
				return nil
			})
		})
		copy(sum[:], h.Sum(nil))
		return sum, err
	}
	before := rssFile(t)
	want, err := readAll()
	if err != nil {
		t.Fatal(err)
	}
	mapped := rssFile(t) - before
	if mapped < rows*size/2 {
		t.Fatalf("reading %d MB mapped only %d kB: nothing to release", rows*size>>20, mapped>>10)
	}

	var wg sync.WaitGroup
	var releasing atomic.Bool
	releasing.Store(true)
	for range 2 {
		wg.Go(func() {
			for releasing.Load() {
				if got, err := readAll(); err != nil || got != want {
					t.Errorf("a read beside the release: %v, content changed %v", err, got != want)
					return
				}
			}
		})
	}
	for range 5 {
		if err := s.ReleaseMapped(); err != nil {
			t.Fatal(err)
		}
	}
	releasing.Store(false)
	wg.Wait()
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	if left := rssFile(t) - before; left > mapped/4 {
		t.Errorf("after the release %d kB of the %d kB the read mapped are still mapped", left>>10, mapped>>10)
	}
	if got, err := readAll(); err != nil || got != want {
		t.Fatalf("after the release: %v, content changed %v", err, got != want)
	}
}
