package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// \Recent (RFC 3501 section 2.3.2): recent to the first session told of a
// message, by SELECT or by EXISTS, and to no other; EXAMINE shows it without
// taking it; RECENT follows EXISTS; SEARCH RECENT, NEW and OLD agree.
func TestRecentToFirstSession(t *testing.T) {
	h := newHarness(t)
	seed(h)
	a, b := h.raw(testUser, testPassword), h.raw(testUser, testPassword)
	sel := fmt.Sprintf("SELECT %q", folderA)

	ua := a.ok("%s", sel)
	if find(ua, "* 6 EXISTS") == "" || find(ua, "* 6 RECENT") == "" {
		t.Fatalf("first SELECT: %q, want 6 EXISTS and 6 RECENT", ua)
	}
	if ub := b.ok("%s", sel); find(ub, "* 0 RECENT") == "" {
		t.Fatalf("second SELECT: %q, want 0 RECENT", ub)
	}
	for i, f := range a.ok("FETCH 1:* (FLAGS)") {
		if !strings.Contains(f, `\Recent`) {
			t.Errorf("first session, message %d: %s lacks \\Recent", i+1, f)
		}
	}
	for i, f := range b.ok("FETCH 1:* (FLAGS)") {
		if strings.Contains(f, `\Recent`) {
			t.Errorf("second session, message %d: %s has \\Recent", i+1, f)
		}
	}
	a.ok(`STORE 1 +FLAGS (\Seen)`)
	b.ok(`STORE 2 FLAGS (\Recent \Flagged)`) // \Recent is the server's to set: ignored
	for _, c := range []struct {
		who    *rawClient
		search string
		want   string
	}{
		{a, "RECENT", "* SEARCH 1 2 3 4 5 6"},
		{a, "NEW", "* SEARCH 2 3 4 5 6"},
		{a, "OLD", "* SEARCH"},
		{b, "RECENT", "* SEARCH"},
		{b, "NEW", "* SEARCH"},
		{b, "OLD", "* SEARCH 1 2 3 4 5 6"},
		{b, `KEYWORD \Recent`, "* SEARCH"},
	} {
		u := c.who.ok("SEARCH %s", c.search)
		if got := find(u, "* SEARCH"); got != c.want {
			t.Errorf("SEARCH %s = %q, want %q", c.search, got, c.want)
		}
	}
	if f := b.ok("FETCH 2 (FLAGS)"); len(f) != 1 || !strings.Contains(f[0], `FLAGS (\Flagged)`) {
		t.Errorf("after STORE FLAGS (\\Recent \\Flagged) in the second session: %q", f)
	}

	// New mail while both have the folder selected: one of them is told
	// first and has it recent; EXISTS then RECENT in both.
	h.addMessage(caseA, "consumer", msg("jan@consumer.example", "Any news?", "Any news on my refund?"))
	recentIn := 0
	for _, c := range []*rawClient{a, b} {
		u := c.noopUntil("EXISTS 7", func(r string) bool { return r == "* 7 EXISTS" })
		if ie := position(u, "* 7 EXISTS"); indexAfter(u, ie, " RECENT") != ie+1 {
			t.Errorf("RECENT does not follow EXISTS: %q", u)
		}
		f := c.ok("FETCH 7 (FLAGS)")
		if len(f) == 1 && strings.Contains(f[0], `\Recent`) {
			recentIn++
		}
	}
	if recentIn != 1 {
		t.Errorf("the new message is recent in %d sessions, want exactly 1", recentIn)
	}

	// Nothing is left recent for a third session; STATUS agrees.
	c := h.raw(testUser, testPassword)
	if st := c.ok("STATUS %q (RECENT MESSAGES)", folderA); len(st) != 1 || !strings.Contains(st[0], "RECENT 0") {
		t.Errorf("STATUS: %q, want RECENT 0", st)
	}

	// With nobody in the folder, EXAMINE sees new mail recent without
	// taking it; the next SELECT takes it; the one after sees nothing.
	a.ok("CLOSE")
	b.ok("CLOSE")
	h.addMessage(caseA, "trader", msg("support@acme.example", "Refund sent", "We refunded 49.95 EUR."))
	waitFor(t, "the message in STATUS", func() bool {
		st := c.ok("STATUS %q (MESSAGES RECENT)", folderA)
		return len(st) == 1 && strings.Contains(st[0], "MESSAGES 8 RECENT 1")
	})
	if u := c.ok("EXAMINE %q", folderA); find(u, "* 1 RECENT") == "" {
		t.Errorf("EXAMINE: %q, want 1 RECENT", u)
	}
	if f := c.ok("FETCH 8 (FLAGS)"); len(f) != 1 || !strings.Contains(f[0], `\Recent`) {
		t.Errorf("EXAMINE session, new message: %q", f)
	}
	if u := a.ok("%s", sel); find(u, "* 1 RECENT") == "" {
		t.Errorf("SELECT after EXAMINE: %q, want 1 RECENT", u)
	}
	if u := b.ok("%s", sel); find(u, "* 0 RECENT") == "" {
		t.Errorf("the next SELECT: %q, want 0 RECENT", u)
	}

	// Across a restart: what a SELECT took stays taken; what nobody saw is
	// recent to the first session after it.
	h.addMessage(caseA, "consumer", msg("jan@consumer.example", "Hello?", "Hello?"))
	h.restart()
	d := h.raw(testUser, testPassword)
	if st := d.ok("STATUS %q (RECENT)", folderA); len(st) != 1 || !strings.Contains(st[0], "RECENT 1") {
		t.Errorf("STATUS after restart: %q, want RECENT 1", st)
	}
	if u := d.ok("%s", sel); find(u, "* 9 EXISTS") == "" || find(u, "* 1 RECENT") == "" {
		t.Errorf("SELECT after restart: %q, want 9 EXISTS, 1 RECENT", u)
	}
	h.restart()
	e := h.raw(testUser, testPassword)
	if u := e.ok("%s", sel); find(u, "* 0 RECENT") == "" {
		t.Errorf("SELECT after the second restart: %q, want 0 RECENT", u)
	}
}

// indexAfter returns the position of the first response after i that ends
// with suffix, or -1.
func indexAfter(responses []string, i int, suffix string) int {
	for j := i + 1; j < len(responses); j++ {
		if strings.HasSuffix(responses[j], suffix) {
			return j
		}
	}
	return -1
}

// A message appended to a personal folder is recent to the session that has
// the folder selected, and a SELECT after it sees it no more.
func TestRecentInPersonalFolder(t *testing.T) {
	h := newHarness(t)
	a, b := h.raw(testUser, testPassword), h.raw(testUser, testPassword)
	a.ok("SELECT Drafts")
	raw := string(msg(testUser, "Draft", "A draft."))
	if _, status := b.cmd("APPEND Drafts (\\Draft) {%d+}\r\n%s", len(raw), raw); !strings.HasPrefix(status, "OK") {
		t.Fatalf("APPEND: %s", status)
	}
	u := a.noopUntil("EXISTS 1", func(r string) bool { return r == "* 1 EXISTS" })
	if find(u, "* 1 RECENT") == "" {
		t.Errorf("NOOP after APPEND: %q, want 1 RECENT", u)
	}
	if u := b.ok("SELECT Drafts"); find(u, "* 0 RECENT") == "" {
		t.Errorf("SELECT after the other session saw it: %q", u)
	}
}
