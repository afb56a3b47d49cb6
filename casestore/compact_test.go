package casestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCompact: a file whose messages were written as before appendFill
// (pages split half full) comes out smaller, its pages full, every key and
// value and bucket sequence as they were; the store opens on it and goes on
// numbering messages where it stopped, reading the free page list rather than
// every page. Compact refuses a store that is open
// and replaces a copy an interrupted run left behind.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const n = 20000
	db, err := bolt.Open(DBPath(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMessages) // bbolt's default fill, as an older parley wrote
		for i := 0; i < n; i++ {
			id, _ := b.NextSequence()
			v, err := encodeRow(&Message{ID: id, CaseID: "K7Q-4M2P", From: fmt.Sprintf("buyer%d@example.org", i), Subject: "where is my order"})
			if err != nil {
				return err
			}
			if err := b.Put(itob(id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dump := func(db *bolt.DB) map[string]string {
		out := map[string]string{}
		db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				out[string(name)+" seq"] = fmt.Sprint(b.Sequence())
				return b.ForEach(func(k, v []byte) error { out[string(name)+" "+string(k)] = string(v); return nil })
			})
		})
		return out
	}
	fill := func(db *bolt.DB) float64 {
		var f float64
		db.View(func(tx *bolt.Tx) error {
			st := tx.Bucket(bMessages).Stats()
			f = float64(st.LeafInuse) / float64(st.LeafAlloc)
			return nil
		})
		return f
	}
	before, fillBefore := dump(db), fill(db)
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, CompactFile), []byte("left by a run that was killed"), 0o600); err != nil {
		t.Fatal(err)
	}

	locked, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(dir, 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("Compact beside an open store: %v, want ErrLocked", err)
	}
	locked.Close()

	rep, err := Compact(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(DBPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d -> %d bytes in %v", rep.Before, rep.After, rep.Took)
	if rep.After != st.Size() || rep.After >= rep.Before {
		t.Errorf("sizes reported %d -> %d, file now %d: want smaller", rep.Before, rep.After, st.Size())
	}
	if !syncedFreelist(t, DBPath(dir)) {
		t.Error("the compacted file names no free page list: the next Open reads every page")
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("compacted file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, CompactFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy left beside the file: %v", err)
	}
	db, err = bolt.Open(DBPath(dir), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	after, fillAfter := dump(db), fill(db)
	db.Close()
	if fillAfter < 0.95 || fillBefore > 0.6 {
		t.Errorf("messages pages %.0f %% full before, %.0f %% after: want about half, then full", 100*fillBefore, 100*fillAfter)
	}
	if len(after) != len(before) {
		t.Errorf("%d keys and sequences after, %d before", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("%q: %q after, %q before", k, after[k], v)
		}
	}

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var next uint64
	if err := s.Update(func(tx *Tx) (err error) { next, err = tx.NextMessageID(); return err }); err != nil {
		t.Fatal(err)
	}
	if next != n+1 {
		t.Errorf("next message id %d after compaction, want %d", next, n+1)
	}
	var m *Message
	if err := s.View(func(tx *Tx) (err error) { m, err = tx.Message(n); return err }); err != nil || m.From != fmt.Sprintf("buyer%d@example.org", n-1) {
		t.Errorf("message %d after compaction: %+v, %v", n, m, err)
	}
}

// TestOpenAfterReplacedWhileWaiting: an Open that waits for the lock while a
// compaction renames its new file over parley.db goes on with the new file,
// not the old one, unlinked (what it accepted would be lost).
func TestOpenAfterReplacedWhileWaiting(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for d, handle := range map[string]string{dir: "old", other: "new"} {
		s, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustDo(t, s.Update(func(tx *Tx) error {
			return tx.PutTrader(Trader{Handle: handle, Name: handle, Email: handle + "@shop.example"})
		}))
		s.Close()
	}
	path := DBPath(dir)
	holder, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true}) // as a compaction holds it
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan *Store, 1)
	go func() {
		s, err := Open(dir, Options{LockTimeout: 30 * time.Second})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	// The opener holds its own descriptor of the old file once bbolt waits for the lock.
	for fdsOn(t, path) < 2 {
		select {
		case <-opened:
			t.Fatal("Open returned while another handle held the lock")
		default:
			runtime.Gosched()
		}
	}
	if err := os.Rename(DBPath(other), path); err != nil {
		t.Fatal(err)
	}
	holder.Close()
	s := <-opened
	if s == nil {
		return
	}
	defer s.Close()
	if handles := traderHandles(t, s); len(handles) != 1 || handles[0] != "new" {
		t.Errorf("the store opened holds traders %v: want the new file's (new)", handles)
	}
}

// fdsOn counts this process's descriptors open on path.
func fdsOn(t *testing.T, path string) int {
	t.Helper()
	want, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, fd := range fds {
		if st, err := os.Stat(filepath.Join("/proc/self/fd", fd.Name())); err == nil && os.SameFile(st, want) {
			n++
		}
	}
	return n
}
