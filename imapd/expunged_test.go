package imapd

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/casestore"
)

// appendRaw APPENDs raw to folder over a raw session, with a synchronising
// literal (LITERAL- allows non-synchronising ones up to 4096 bytes only).
func appendRaw(c *rawClient, folder string, raw []byte) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("r%d", c.n)
	if _, err := fmt.Fprintf(c.conn, "%s APPEND %s {%d}\r\n", tag, folder, len(raw)); err != nil {
		c.t.Fatal(err)
	}
	if l := c.line(); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("APPEND %s: %q, want a continuation", folder, l)
	}
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", raw); err != nil {
		c.t.Fatal(err)
	}
	for {
		l := c.line()
		if status, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(status, "OK") {
				c.t.Fatalf("APPEND %s: %s", folder, status)
			}
			return
		}
	}
}

// A FETCH naming a message another session expunged (personal folders) gets
// the data of the others and NO [EXPUNGEISSUED], never NO [SERVERBUG]; UID
// FETCH leaves it out and reports the EXPUNGE (RFC 2180 section 4.1.2,
// RFC 5530, RFC 3501 section 7.4.1). COPY and MOVE then copy nothing.
func TestFetchOfMessageExpungedElsewhere(t *testing.T) {
	h := newHarness(t)
	a, b := h.raw(testUser, testPassword), h.raw(testUser, testPassword)
	for i := 1; i <= 3; i++ {
		appendRaw(a, "Trash", msg(testUser, fmt.Sprintf("Thrown away %d", i), "Gone soon."))
	}
	a.ok("SELECT Trash")
	b.ok("SELECT Trash")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	if u := b.ok("EXPUNGE"); find(u, "* 2 EXPUNGE") == "" {
		t.Fatalf("EXPUNGE in the other session: %q", u)
	}

	for _, fetch := range []string{"FETCH 1:3 (UID FLAGS BODY.PEEK[])", "FETCH 1:* (UID FLAGS BODY.PEEK[])", "FETCH 2 (ENVELOPE)"} {
		u, status := a.cmd("%s", fetch)
		if !strings.HasPrefix(status, "NO [EXPUNGEISSUED]") {
			t.Errorf("%s: %s, want NO [EXPUNGEISSUED]", fetch, status)
		}
		if find(u, "* 2 FETCH") != "" || find(u, "* 2 EXPUNGE") != "" {
			t.Errorf("%s: %q shows or expunges message 2 during FETCH", fetch, u)
		}
		if fetch != "FETCH 2 (ENVELOPE)" && (!strings.Contains(find(u, "* 1 FETCH"), "Thrown away 1") || !strings.Contains(find(u, "* 3 FETCH"), "Thrown away 3")) {
			t.Errorf("%s: the messages that exist were not returned: %q", fetch, u)
		}
	}
	for _, cmd := range []string{"COPY 1:3 Drafts", "MOVE 2:3 Drafts"} {
		if _, status := a.cmd("%s", cmd); !strings.HasPrefix(status, "NO [EXPUNGEISSUED]") {
			t.Errorf("%s: %s, want NO [EXPUNGEISSUED]", cmd, status)
		}
	}
	// UID FETCH may report the EXPUNGE, so it does, after the data, and
	// answers OK.
	u := a.ok("UID FETCH 1:* (FLAGS)")
	if i1, i3, ie := position(u, "* 1 FETCH (UID 1 "), position(u, "* 3 FETCH (UID 3 "), position(u, "* 2 EXPUNGE"); i1 < 0 || i3 < 0 || ie < i3 || len(u) != 3 {
		t.Errorf("UID FETCH 1:*: %q, want messages 1 and 3, then the EXPUNGE of 2", u)
	}
	if st := a.ok("STATUS Drafts (MESSAGES)"); !strings.Contains(find(st, "* STATUS"), "MESSAGES 0") {
		t.Errorf("Drafts after the refused COPY and MOVE: %q", st)
	}
	if u, status := a.cmd("FETCH 1:* (UID)"); !strings.HasPrefix(status, "OK") || len(u) != 2 {
		t.Errorf("FETCH after the EXPUNGE: %q %s", u, status)
	}
}

// Under load (one session appending and expunging large messages, another
// fetching all the time) FETCH never answers NO [SERVERBUG]: the message
// whose bytes went away between finding it and reading it counts as
// expunged.
func TestFetchRacingExpunge(t *testing.T) {
	h := newHarness(t)
	a, b := h.raw(testUser, testPassword), h.raw(testUser, testPassword)
	big := append(msg(testUser, "Large", "x"), bytes.Repeat([]byte("0123456789abcdef\r\n"), casestore.InlineMax/18+10)...)
	for i := 0; i < 4; i++ {
		appendRaw(a, "Trash", big)
	}
	a.ok("SELECT Trash")
	b.ok("SELECT Trash")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			appendRaw(b, "Trash", big)
			b.ok(`STORE 1:2 +FLAGS.SILENT (\Deleted)`)
			b.ok("EXPUNGE")
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	fetches := 0
	for time.Now().Before(deadline) {
		for _, cmd := range []string{"FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])", "NOOP", "SEARCH BODY 0123", "UID FETCH 1:* (BODY.PEEK[HEADER])"} {
			_, status := a.cmd("%s", cmd)
			if strings.Contains(status, "SERVERBUG") || strings.HasPrefix(status, "BAD") {
				t.Fatalf("%s: %s", cmd, status)
			}
			if strings.HasPrefix(cmd, "FETCH") {
				fetches++
			}
		}
	}
	close(stop)
	wg.Wait()
	if strings.Contains(h.log.String(), "level=ERROR") {
		t.Errorf("errors in the server log:\n%s", h.log.String())
	}
	t.Logf("%d FETCH 1:* while the other session appended and expunged", fetches)
}
