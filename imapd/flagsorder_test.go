package imapd

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// flagWatch follows one session's responses: the keywords its FLAGS
// announced so far, and every FETCH that showed a keyword before that.
type flagWatch struct {
	t     *testing.T
	who   string
	known map[string]bool
}

var (
	flagsLine  = regexp.MustCompile(`^\* FLAGS \(([^)]*)\)`)
	fetchFlags = regexp.MustCompile(`^\* \d+ FETCH \(.*FLAGS \(([^)]*)\)`)
)

func newFlagWatch(t *testing.T, who string) *flagWatch {
	return &flagWatch{t: t, who: who, known: map[string]bool{}}
}

// check reads responses in order.
func (fw *flagWatch) check(responses []string) {
	fw.t.Helper()
	for _, r := range responses {
		if m := flagsLine.FindStringSubmatch(r); m != nil {
			for _, f := range strings.Fields(m[1]) {
				fw.known[strings.ToLower(f)] = true
			}
			continue
		}
		if m := fetchFlags.FindStringSubmatch(r); m != nil {
			for _, f := range strings.Fields(m[1]) {
				if !strings.HasPrefix(f, `\`) && !fw.known[strings.ToLower(f)] {
					fw.t.Errorf("%s: %q shows %s before any FLAGS announced it (responses %q)", fw.who, r, f, responses)
				}
			}
		}
	}
}

// After STORE +FLAGS with a new keyword, the FLAGS that announces it comes
// before any FETCH that shows it: in the session that stored it, and in
// another session with the folder selected, whether it hears of the change
// by NOOP, by its own FETCH or while idling (RFC 3501 section 7.2.6).
func TestFlagsAnnouncedBeforeFetch(t *testing.T) {
	h := newHarness(t)
	seed(h)
	a, b := h.raw(testUser, testPassword), h.raw(testUser, testPassword)
	wa, wb := newFlagWatch(t, "storing session"), newFlagWatch(t, "other session")
	sel := fmt.Sprintf("SELECT %q", folderA)
	ua, ub := a.ok("%s", sel), b.ok("%s", sel)
	wa.check(ua)
	wb.check(ub)
	if pf := find(ua, "* OK [PERMANENTFLAGS"); !strings.Contains(pf, `\*`) {
		t.Errorf("PERMANENTFLAGS %q lacks \\*: new keywords would change it", pf)
	}

	// The storing session: FLAGS, then its STORE's FETCH.
	u := a.ok("STORE 1 +FLAGS ($NewOne)")
	wa.check(u)
	fi, fe := position(u, "* FLAGS"), position(u, "* 1 FETCH")
	if fi < 0 || fe < fi || !strings.Contains(u[fe], "$NewOne") {
		t.Errorf("STORE with a new keyword answered %q, want FLAGS then FETCH with $NewOne", u)
	}
	u = a.ok("UID STORE 3 +FLAGS ($Third)")
	wa.check(u)
	if fe := position(u, "* 3 FETCH"); fe < 0 || !strings.Contains(u[fe], "UID 3") || !strings.Contains(u[fe], "$Third") {
		t.Errorf("UID STORE answered %q", u)
	}
	wa.check(a.ok("STORE 4 +FLAGS.SILENT ($Silent)"))
	if !wa.known["$silent"] {
		t.Errorf("STORE .SILENT with a new keyword did not announce it")
	}

	// The other session hears of all three by NOOP, FLAGS first.
	u = b.noopUntil("the FETCH of message 4", func(r string) bool { return strings.HasPrefix(r, "* 4 FETCH") })
	wb.check(u)
	for _, kw := range []string{"$NewOne", "$Third", "$Silent"} {
		if !wb.known[strings.ToLower(kw)] {
			t.Errorf("other session was not told of %s: %q", kw, u)
		}
	}

	// A FETCH of a message another session just gave a new keyword shows it
	// only after the FLAGS that announces it.
	a.ok("STORE 2 +FLAGS ($Fresh)")
	u = b.ok("FETCH 2 (FLAGS)")
	wb.check(u)
	if f := position(u, "* FLAGS"); f < 0 || !strings.Contains(u[len(u)-1], "$Fresh") {
		t.Errorf("FETCH after another session's new keyword answered %q, want FLAGS then FETCH with $Fresh", u)
	}

	// And while idling.
	if _, err := fmt.Fprintf(b.conn, "idle1 IDLE\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := b.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	a.ok("STORE 5 +FLAGS ($Idle)")
	var idled []string
	for !strings.HasPrefix(lastOf(idled), "* 5 FETCH") {
		idled = append(idled, b.line())
	}
	fmt.Fprintf(b.conn, "DONE\r\n")
	for l := ""; !strings.HasPrefix(l, "idle1 "); {
		l = b.line()
	}
	wb.check(idled)
	if position(idled, "* FLAGS") < 0 {
		t.Errorf("idling session was not sent FLAGS: %q", idled)
	}
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
