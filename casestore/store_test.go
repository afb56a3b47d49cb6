package casestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.Update(func(tx *Tx) error {
				if err := tx.PutTrader(Trader{Handle: fmt.Sprintf("t%d", i), Name: "n", Email: fmt.Sprintf("t%d@x.example", i)}); err != nil {
					return err
				}
				if i%7 == 0 {
					return fmt.Errorf("caller %d fails", i)
				}
				return nil
			})
		}(i)
	}
	wg.Wait()
	s.Close()
	s = open(t, dir)
	defer s.Close()
	s.View(func(tx *Tx) error {
		for i, err := range errs {
			_, terr := tx.Trader(fmt.Sprintf("t%d", i))
			if i%7 == 0 {
				if err == nil || terr == nil {
					t.Errorf("caller %d: err=%v, written=%v; a failing function must not commit", i, err, terr == nil)
				}
			} else if err != nil || terr != nil {
				t.Errorf("caller %d: err=%v lookup=%v; its batch neighbour's failure must not cost it", i, err, terr)
			}
		}
		return nil
	})
}

// TestGroupCommitGathers: four writers each committing in a loop share
// commits when the committer gathers (each commit waits for the others'
// next call); without gathering the first caller back starts a commit alone.
// A lone writer never waits for the gather time (1 h here).
func TestGroupCommitGathers(t *testing.T) {
	const writers, rounds = 4, 50
	run := func(gather time.Duration) CommitStats {
		s, err := Open(t.TempDir(), Options{Gather: gather})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					if err := s.Update(func(tx *Tx) error {
						return tx.PutTrader(Trader{Handle: fmt.Sprintf("t%d-%d", w, i), Name: "n", Email: fmt.Sprintf("t%d-%d@x.example", w, i)})
					}); err != nil {
						t.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		return s.CommitStats()
	}
	off, on := run(-1), run(time.Second)
	t.Logf("without gathering: %d commits for %d callers; gathering: %d", off.Commits, off.Callers, on.Commits)
	if on.Callers != writers*rounds || off.Callers != writers*rounds {
		t.Fatalf("callers counted: %d and %d, want %d", on.Callers, off.Callers, writers*rounds)
	}
	// All four back within the gather time after each commit: a commit
	// waits for as many callers as the last carried, so the groups settle
	// at three or four (a first commit of one and a second of three leave
	// them at three); without
	// gathering most commits carry two.
	if on.Commits > rounds*3/2 {
		t.Errorf("gathering: %d commits for %d rounds of %d writers", on.Commits, rounds, writers)
	}
	if on.PageWrites >= off.PageWrites {
		t.Errorf("gathering wrote %d pages, without %d", on.PageWrites, off.PageWrites)
	}

	s, err := Open(t.TempDir(), Options{Gather: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			s.Update(func(tx *Tx) error {
				return tx.PutTrader(Trader{Handle: fmt.Sprint(i), Name: "n", Email: fmt.Sprint(i, "@x.example")})
			})
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("a lone writer waited for the gather time")
	}
	if n := s.CommitStats().Commits; n != 20 {
		t.Errorf("lone writer: %d commits for 20 calls", n)
	}
}

// TestCommitStatsCountTheCommitter: Open's own transaction (the schema,
// a migration) is not the committer's and is left out; a commit's time
// covers its writes and fsyncs, which take time on a real file.
func TestCommitStatsCountTheCommitter(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	if st := s.CommitStats(); st != (CommitStats{}) {
		t.Fatalf("after Open: %+v, want nothing", st)
	}
	if err := s.Update(func(tx *Tx) error {
		return tx.PutTrader(Trader{Handle: "acme", Name: "n", Email: "acme@x.example"})
	}); err != nil {
		t.Fatal(err)
	}
	st := s.CommitStats()
	if st.Commits != 1 || st.Callers != 1 || st.PageWrites == 0 {
		t.Errorf("after a commit: %+v", st)
	}
	if st.WriteTime <= 0 || st.CommitTime < st.WriteTime {
		t.Errorf("after a commit: commit time %v, write time %v", st.CommitTime, st.WriteTime)
	}
}

func TestEventChain(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	err := s.Update(func(tx *Tx) error {
		c := &Case{ID: "ABC-DEFG", State: StateOpen}
		for i := 0; i < 5; i++ {
			if err := tx.AppendEvent(c, Event{Kind: EvMailIn, Text: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return tx.PutCase(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	var c *Case
	s.View(func(tx *Tx) (err error) {
		if c, err = tx.Case("ABC-DEFG"); err != nil {
			return err
		}
		evs, err = tx.Events("ABC-DEFG")
		return err
	})
	if len(evs) != 5 || c.Events != 5 || c.LastHash != evs[4].Hash {
		t.Fatalf("events %d, case counters %d %s", len(evs), c.Events, c.LastHash)
	}
	prev := ""
	for _, ev := range evs {
		if ev.Prev != prev || EventHash(ev) != ev.Hash {
			t.Fatalf("chain broken at %d", ev.Seq)
		}
		prev = ev.Hash
	}
	if seq, why := VerifyEvents(c, evs); seq != 0 {
		t.Fatalf("intact log reported bad at %d: %s", seq, why)
	}
	evs[2].Text = "altered"
	if seq, _ := VerifyEvents(c, evs); seq != 3 {
		t.Fatalf("altered text reported at %d, want 3", seq)
	}
	evs[2].Text, evs[2].Kind = "2", "forged"
	if EventHash(evs[2]) == evs[2].Hash {
		t.Fatal("altering an event must change its hash")
	}
}

func TestUpdateAfterClose(t *testing.T) {
	s := open(t, t.TempDir())
	s.Close()
	if err := s.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Close = %v", err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if _, err := Open(dir, Options{LockTimeout: 50e6}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestBlobsWriteOnceAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := open(t, dir)
	defer s.Close()
	sum1, n, err := s.Blobs.Put(bytes.NewReader([]byte("evidence")))
	if err != nil || n != 8 {
		t.Fatal(err)
	}
	sum2, _, err := s.Blobs.Put(bytes.NewReader([]byte("evidence")))
	if err != nil || sum1 != sum2 {
		t.Fatal("same content must give the same blob")
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "parley.db"): 0o600, s.Blobs.Path(sum1): 0o600, dir: 0o700, filepath.Join(dir, "blobs"): 0o700,
	} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, st.Mode().Perm(), want, err)
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("tmp folder keeps %d files", len(tmp))
	}
}

// syncedFreelist reads the bbolt file's meta pages and reports whether the
// current one names a free page list (bbolt's meta layout: after the 16-byte
// page header, magic, version, page size and flags (4 bytes each), the root
// bucket (16), then the freelist page id, the high water mark and the
// transaction id, 8 bytes each, little-endian on the machines we build for).
func syncedFreelist(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	pageSize := int(le.Uint32(b[16+8:]))
	var freelist, txid uint64
	for _, off := range []int{0, pageSize} {
		m := b[off+16:]
		if tx := le.Uint64(m[48:]); tx >= txid {
			txid, freelist = tx, le.Uint64(m[32:])
		}
	}
	return freelist != ^uint64(0)
}

// A clean Close writes bbolt's free page list, so the next Open does not
// read every page of the file to rebuild it; commits drop it again.
func TestCloseWritesFreelist(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	mustDo(t, s.Update(func(tx *Tx) error {
		for i := range 500 {
			if err := tx.PutCase(&Case{ID: fmt.Sprintf("AAA-%04d", i), State: StateOpen, Title: strings.Repeat("x", 500)}); err != nil {
				return err
			}
		}
		return nil
	}))
	if syncedFreelist(t, DBPath(dir)) {
		t.Fatal("the free page list is written by commits")
	}
	mustDo(t, s.Close())
	if !syncedFreelist(t, DBPath(dir)) {
		t.Fatal("Close did not write the free page list")
	}
	s = open(t, dir)
	mustDo(t, s.Update(func(tx *Tx) error { return tx.PutCase(&Case{ID: "BBB-0001", State: StateOpen}) }))
	if syncedFreelist(t, DBPath(dir)) {
		t.Error("a commit after Open left the old free page list named")
	}
	mustDo(t, s.Close())
	s = open(t, dir)
	defer s.Close()
	mustDo(t, s.View(func(tx *Tx) error {
		if _, err := tx.Case("AAA-0499"); err != nil {
			return err
		}
		_, err := tx.Case("BBB-0001")
		return err
	}))
}

// TestPanicInTransaction: a caller whose function panics, in a commit shared
// with two others, gets a *PanicError with its stack; the others' writes are
// committed, and the store goes on (without the recover the test binary dies).
func TestPanicInTransaction(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hold, held := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Update(func(*Tx) error { close(held); <-hold; return nil })
	}()
	<-held // the committer is inside the first commit: the next three queue up together
	errs := make(chan error, 3)
	for i, name := range []string{"a", "boom", "b"} {
		go func() {
			errs <- s.Update(func(tx *Tx) error {
				if name == "boom" {
					var m map[string]int
					m[name] = i // assignment to a nil map
				}
				return tx.PutTrader(Trader{Handle: name, Name: name, Email: name + "@shop.example"})
			})
		}()
	}
	for len(s.commits) < 3 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var panicked int
	for range 3 {
		err := <-errs
		var pe *PanicError
		switch {
		case errors.As(err, &pe):
			panicked++
			if !strings.Contains(err.Error(), "assignment to entry in nil map") || !strings.Contains(string(pe.Stack), "TestPanicInTransaction") {
				t.Errorf("panic error %q, stack:\n%s", err, pe.Stack)
			}
		case err != nil:
			t.Errorf("a caller beside the panic: %v", err)
		}
	}
	if panicked != 1 {
		t.Errorf("%d callers saw the panic, want 1", panicked)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutTrader(Trader{Handle: "c", Name: "c", Email: "c@shop.example"}) }); err != nil {
		t.Fatalf("after the panic: %v", err)
	}
	if got := strings.Join(traderHandles(t, s), " "); got != "a b c" {
		t.Errorf("traders stored: %q, want a b c", got)
	}
}

// traderHandles lists the handles of the traders s holds.
func traderHandles(t *testing.T, s *Store) []string {
	t.Helper()
	var handles []string
	if err := s.View(func(tx *Tx) error {
		ts, err := tx.Traders()
		for _, tr := range ts {
			handles = append(handles, tr.Handle)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return handles
}
