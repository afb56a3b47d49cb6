package outbound

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"parley/casestore"
)

// Marks from many workers all come back at reopen; a torn last line (a
// crash mid-append) is not taken for an id.
func TestSentLogMarksSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "delivered.log")
	l, ids, err := openSentLog(path)
	if err != nil || len(ids) != 0 {
		t.Fatal(ids, err)
	}
	var wg sync.WaitGroup
	for i := 1; i <= 200; i++ {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			if err := l.mark(id); err != nil {
				t.Error(err)
			}
		}(uint64(i))
	}
	wg.Wait()
	l.close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	f.WriteString(sentLine(201)[:3]) // torn: no newline
	f.Close()
	_, ids, err = openSentLog(path)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) != 200 || ids[0] != 1 || ids[199] != 200 {
		t.Fatalf("reopened %d ids: %v", len(ids), ids)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("delivery log mode %v", st.Mode().Perm())
	}
}

// Rows whose delivery is in the log (the next hop took them just before a
// crash) are recorded as delivered at start, not sent again.
func TestDeliveryLogPreventsResend(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	e := startQueue(t, dir, baseConfig(addr), nil) // nothing listens: all stay queued
	ids := e.add(t, 3)
	e.close()
	// Lines of the earlier format (a bare id); the third line is torn.
	log := fmt.Sprintf("%d\n%d\n%d", ids[0], ids[1], ids[2])
	if err := os.WriteFile(filepath.Join(dir, "delivered.log"), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	e = startQueue(t, dir, baseConfig(addr), nil)
	for _, id := range ids {
		e.waitState(t, id, casestore.OutSent)
	}
	if s.count() != 1 {
		t.Fatalf("sink got %d messages; only the row the log does not name should be sent", s.count())
	}
	// Emptied at start; since then only the one real delivery was logged.
	if data, _ := os.ReadFile(filepath.Join(dir, "delivered.log")); string(data) != sentLine(ids[2]) {
		t.Errorf("delivery log after start: %q", data)
	}
}

// After a power loss the unsynced tail of the log can come back as zeros or
// with pieces of lines: only whole lines whose checksum matches name a row,
// so damage can cause a resend, never a row taken for delivered. Bare ids
// are read only from a log of the earlier, fdatasynced format.
func TestSentLogSkipsDamagedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "delivered.log")
	good := sentLine(4711)
	damaged := []string{
		"\x00\x00\x00\x00\n",                      // a page that came back as zeros
		"\x00\x00" + sentLine(35)[2:],             // its first bytes lost
		"4712" + good[4:],                         // id and checksum disagree
		strings.Replace(good, " ", "", 1),         // no separator: one long number
		strings.Replace(sentLine(23), " ", "", 1), // the same, all digits
		"12 zz\n", // checksum not hex
		"\n",
	}
	log := good + strings.Join(damaged, "") + "815\n" + sentLine(815) + sentLine(99)[:4]
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ids, err := openSentLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[4711 815]" {
		t.Fatalf("ids from a damaged log: %v, want [4711 815]", ids)
	}
	// A log of the earlier format (no line has a checksum) is read whole.
	if err := os.WriteFile(path, []byte("4711\n815\n\x00\x00\n12"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ids, err = openSentLog(path); err != nil || fmt.Sprint(ids) != "[4711 815]" {
		t.Fatalf("ids from a log of the earlier format: %v, %v", ids, err)
	}
}
