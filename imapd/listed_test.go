package imapd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"parley/casestore"
)

// closeCase closes a case at the given time, as the procedure does.
func (h *harness) closeCase(id string, at time.Time) {
	h.update(func(tx *casestore.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		c.State, c.Outcome, c.Closed = casestore.StateClosed, casestore.OutcomeResolved, at
		return tx.PutCase(c)
	})
}

// purgeCase marks a case purged, as the retention sweep leaves it.
func (h *harness) purgeCase(id string) {
	h.update(func(tx *casestore.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		c.Purged = true
		return tx.PutCase(c)
	})
}

// caseFolderNames are the case folders a LIST of everything shows.
func caseFolderNames(t *testing.T, c *imapclient.Client) []string {
	t.Helper()
	var out []string
	for name := range listNames(t, c) {
		if strings.HasPrefix(name, casesRoot+"/") || strings.HasPrefix(name, closedRoot+"/") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func wantNonExistent(t *testing.T, err error, what string) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeNonExistent {
		t.Errorf("%s: %v, want NO [NONEXISTENT]", what, err)
	}
}

func selectCount(t *testing.T, c *imapclient.Client, name string, readOnly bool) uint32 {
	t.Helper()
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	return sel.NumMessages
}

// Closed/ lists the most recently closed cases only; older ones open by
// their full name or by Closed/ID, and are indexed like any other.
func TestClosedFoldersBounded(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.ClosedFolders = 2 }))
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	h.addCase("NEW-0001", casestore.StateOpen, "Open Shop")
	h.addMessage("NEW-0001", "consumer", msg("jan@consumer.example", "Open", "Still open."))
	raws := map[string][]byte{}
	for i, id := range []string{"CSE-0001", "CSE-0002", "CSE-0003", "CSE-0004"} {
		h.addCase(id, casestore.StateOpen, "Shop "+id[4:])
		raws[id] = msg("jan@consumer.example", "About "+id, "Text of "+id+".")
		h.addMessage(id, "consumer", raws[id])
		h.closeCase(id, t0.AddDate(0, 0, i))
	}
	h.addMessage("CSE-0001", "trader", msg("mallory@evil.example", "Pay me", "Money."), casestore.FlagQuarantined)
	c := h.client(nil)

	want := []string{"Cases/NEW-0001-Open-Shop", "Closed/CSE-0003-Shop-0003", "Closed/CSE-0004-Shop-0004"}
	if got := caseFolderNames(t, c); !slices.Equal(got, want) {
		t.Fatalf("LIST case folders %v, want %v", got, want)
	}
	// The oldest closed case, by its full name and by its id; its quarantine.
	old := "Closed/CSE-0001-Shop-0001"
	for _, name := range []string{old, "Closed/CSE-0001"} {
		if n := selectCount(t, c, name, false); n != 1 {
			t.Errorf("SELECT %s: %d messages, want 1", name, n)
		}
		if n := selectCount(t, c, name, true); n != 1 {
			t.Errorf("EXAMINE %s: %d messages, want 1", name, n)
		}
		st, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || st.NumMessages == nil || *st.NumMessages != 1 || st.Mailbox != name {
			t.Errorf("STATUS %s: %v %+v", name, err, st)
		}
		if n := selectCount(t, c, name+"/Quarantine", true); n != 1 {
			t.Errorf("EXAMINE %s/Quarantine: %d messages, want 1", name, n)
		}
	}
	// Its messages are served as any case's, Reply-To and thread included.
	selectCount(t, c, "Closed/CSE-0001", true)
	msgs := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if want := h.served("CSE-0001", raws["CSE-0001"]); len(msgs) != 1 || string(bodyOf(msgs[0])) != string(want) {
		t.Errorf("FETCH of an unlisted case: %d messages, want %q", len(msgs), want)
	}
	// A LIST of the exact name shows it; wildcards show only the listed.
	for _, name := range []string{old, "Closed/CSE-0001", old + "/Quarantine"} {
		l, err := c.List("", name, nil).Collect()
		if err != nil || len(l) != 1 || l[0].Mailbox != name {
			t.Errorf("LIST %q: %v %+v", name, err, l)
		}
	}
	if l, err := c.List("Closed", "CSE-0001-Shop-0001", nil).Collect(); err != nil || len(l) != 1 || l[0].Mailbox != old ||
		!slices.Contains(l[0].Attrs, imap.MailboxAttrHasChildren) {
		t.Errorf("LIST with a reference: %v %+v", err, l)
	}
	if l, err := c.List("", "Closed/%", nil).Collect(); err != nil || len(l) != 2 {
		t.Errorf("LIST Closed/%%: %v %+v", err, l)
	}
	if err := c.Subscribe("Closed/CSE-0001").Wait(); err != nil {
		t.Errorf("SUBSCRIBE an unlisted folder: %v", err)
	}
	// Names that are not the case's folder.
	for _, name := range []string{"Closed/CSE-0001-Other-Shop", "Cases/CSE-0001", "Closed/NEW-0001", "Closed/CSE-0009", "Closed/CSE-0001/Other"} {
		_, err := c.Select(name, nil).Wait()
		wantNonExistent(t, err, "SELECT "+name)
	}
	if n := selectCount(t, c, "Cases/NEW-0001", true); n != 1 {
		t.Errorf("Cases/ID of an open case: %d messages", n)
	}

	// Mail to an unlisted case is indexed; the case stays unlisted, and out
	// of memory.
	h.addMessage("CSE-0002", "trader", msg("support@acme.example", "Late", "A late answer."))
	waitFor(t, "the late answer in Closed/CSE-0002", func() bool {
		st, err := c.Status("Closed/CSE-0002", &imap.StatusOptions{NumMessages: true}).Wait()
		return err == nil && *st.NumMessages == 2
	})
	if got := caseFolderNames(t, c); !slices.Equal(got, want) {
		t.Errorf("LIST after mail to an unlisted case %v, want %v", got, want)
	}
	// A case closing now is the newest closed: the oldest listed one leaves.
	h.closeCase("NEW-0001", t0.AddDate(0, 0, 10))
	want = []string{"Closed/CSE-0004-Shop-0004", "Closed/NEW-0001-Open-Shop"}
	waitFor(t, "NEW-0001 in Closed/", func() bool { return slices.Equal(caseFolderNames(t, c), want) })
	h.srv.idx.mu.Lock()
	held := len(h.srv.idx.cases)
	h.srv.idx.mu.Unlock()
	if held != 2 {
		t.Errorf("the index holds %d cases, want the 2 listed", held)
	}
	if n := selectCount(t, c, "Closed/CSE-0003-Shop-0003", true); n != 1 {
		t.Errorf("a case that left the list: %d messages", n)
	}
}

// Cases created, closed and purged while the daemon was down are right
// after a restart, which reads only the listed cases and the changes.
func TestRestartIndexesChangesWhileDown(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.ClosedFolders = 1 }))
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	h.addCase("AAA-0001", casestore.StateMediation, "Open Shop")
	h.addMessage("AAA-0001", "consumer", msg("jan@consumer.example", "Help", "Please help."))
	for i, id := range []string{"BBB-0002", "CCC-0003"} {
		h.addCase(id, casestore.StateOpen, "Shop "+id[:3])
		h.addMessage(id, "consumer", msg("jan@consumer.example", "About "+id, "Text of "+id+"."))
		h.closeCase(id, t0.AddDate(0, 0, i))
	}
	c := h.client(nil)
	want := []string{"Cases/AAA-0001-Open-Shop", "Closed/CCC-0003-Shop-CCC"}
	if got := caseFolderNames(t, c); !slices.Equal(got, want) {
		t.Fatalf("LIST before %v, want %v", got, want)
	}
	if n := selectCount(t, c, "INBOX", true); n != 1 {
		t.Fatalf("INBOX before: %d messages", n)
	}
	uidValidity := func(name string) uint32 {
		st, err := c.Status(name, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", name, err)
		}
		return st.UIDValidity
	}
	oldValidity := uidValidity("Closed/CCC-0003")
	c.Close()

	h.stop()
	h.store.Close()
	h.openStore()
	h.addCase("DDD-0004", casestore.StateOpen, "New Shop")
	h.addMessage("DDD-0004", "consumer", msg("jan@consumer.example", "New", "A new case."))
	h.closeCase("AAA-0001", t0.AddDate(0, 0, 5))
	h.purgeCase("BBB-0002")
	h.addMessage("CCC-0003", "trader", msg("support@acme.example", "Late", "A late answer."))
	// A case opened, closed and purged while down: the index never saw it.
	h.addCase("EEE-0005", casestore.StateOpen, "Gone Shop")
	h.addMessage("EEE-0005", "consumer", msg("jan@consumer.example", "Gone", "A short case."))
	h.closeCase("EEE-0005", t0.AddDate(0, 0, 6))
	h.purgeCase("EEE-0005")
	h.start()

	c = h.client(nil)
	want = []string{"Cases/DDD-0004-New-Shop", "Closed/AAA-0001-Open-Shop"}
	if got := caseFolderNames(t, c); !slices.Equal(got, want) {
		t.Errorf("LIST after restart %v, want %v", got, want)
	}
	if n := selectCount(t, c, "INBOX", true); n != 0 {
		t.Errorf("INBOX after the case closed: %d messages", n)
	}
	if n := selectCount(t, c, "Cases/DDD-0004-New-Shop", true); n != 1 {
		t.Errorf("the case created while down: %d messages", n)
	}
	if n := selectCount(t, c, "Closed/CCC-0003-Shop-CCC", true); n != 2 {
		t.Errorf("the unlisted case that got mail while down: %d messages, want 2", n)
	}
	if v := uidValidity("Closed/CCC-0003"); v != oldValidity {
		t.Errorf("UIDVALIDITY changed across the restart: %d -> %d", oldValidity, v)
	}
	for _, name := range []string{"Closed/BBB-0002", "Closed/BBB-0002-Shop-BBB", "Cases/AAA-0001-Open-Shop", "Closed/EEE-0005", "Closed/EEE-0005-Gone-Shop"} {
		_, err := c.Select(name, nil).Wait()
		wantNonExistent(t, err, "SELECT "+name)
	}
	h.srv.idx.mu.Lock()
	held := len(h.srv.idx.cases)
	h.srv.idx.mu.Unlock()
	if held != 2 {
		t.Errorf("the index holds %d cases, want the 2 listed", held)
	}
	// Nothing is left for the next start, and nothing was written for the
	// purged case the index never saw (most cases of a large store it
	// first starts on are such).
	if err := h.store.View(func(tx *casestore.Tx) error {
		if ids, _ := tx.CasesChangedAfter(tx.MailSeen(), 0); len(ids) != 0 {
			t.Errorf("changes left after the start: %v", ids)
		}
		if mc, err := tx.MailCase("EEE-0005"); !errors.Is(err, casestore.ErrNotFound) {
			t.Errorf("index row of a purged case it never saw: %+v, %v", mc, err)
		}
		if f, err := tx.MailFolder(caseFolderKey("EEE-0005")); !errors.Is(err, casestore.ErrNotFound) {
			t.Errorf("folder of a purged case it never saw: %+v, %v", f, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// mbsync, which lists with wildcards, keeps the Maildir of a closed case
// that left the list and syncs the other folders. It reports the folder as
// one it cannot open (and exits 1), as it does for any case folder that
// moves from Cases/ to Closed/ when its case closes: it looks for its boxes
// in LIST and does not try the name.
func TestMbsyncAfterAFolderLeavesTheList(t *testing.T) {
	mbsync := need(t, "mbsync")
	h := newHarness(t, withConfig(func(c *Config) { c.ClosedFolders = 1 }))
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	h.addCase("CSE-0001", casestore.StateOpen, "Old Shop")
	h.addMessage("CSE-0001", "consumer", msg("jan@consumer.example", "Old", "An old case."))
	h.closeCase("CSE-0001", t0)
	h.addCase("NEW-0001", casestore.StateOpen, "New Shop")
	h.addMessage("NEW-0001", "consumer", msg("jan@consumer.example", "New", "A new case."))
	home := t.TempDir()
	maildir := filepath.Join(home, "Mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(mbsyncConf(h, maildir, "", "Channel parley\nFar :parley-remote:\nNear :parley-local:\nPatterns *\nCreate Near\nSync Pull\nExpunge None\nSyncState *\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(what string, gone ...string) {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", rc, "-a")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		var bad []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Error:") {
				bad = append(bad, l)
			}
		}
		var want []string
		for _, g := range gone {
			want = append(want, "Error: channel parley: far side box "+g+" cannot be opened.")
		}
		slices.Sort(bad)
		if !slices.Equal(bad, want) || (err != nil) != (len(gone) > 0) {
			t.Fatalf("mbsync %s: %v, errors %q, want %q\n%s", what, err, bad, want, out)
		}
	}
	count := func(folder string) int {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(maildir, folder, "cur"))
		if err != nil {
			t.Fatalf("Maildir %s: %v", folder, err)
		}
		more, err := os.ReadDir(filepath.Join(maildir, folder, "new"))
		if err != nil {
			t.Fatalf("Maildir %s: %v", folder, err)
		}
		return len(ents) + len(more)
	}
	sync("first")
	if n := count("Closed/CSE-0001-Old-Shop"); n != 1 {
		t.Fatalf("the closed case's Maildir holds %d messages", n)
	}
	h.closeCase("NEW-0001", t0.AddDate(0, 0, 1))
	c := h.client(nil)
	waitFor(t, "NEW-0001 in Closed/", func() bool {
		return slices.Equal(caseFolderNames(t, c), []string{"Closed/NEW-0001-New-Shop"})
	})
	sync("after the old case left the list", "Cases/NEW-0001-New-Shop", "Closed/CSE-0001-Old-Shop")
	if n := count("Closed/CSE-0001-Old-Shop"); n != 1 {
		t.Errorf("the Maildir of the case that left the list holds %d messages", n)
	}
	if n := count("Closed/NEW-0001-New-Shop"); n != 1 {
		t.Errorf("the newly closed case's Maildir holds %d messages", n)
	}
}

// TestFirstStartSkipsPurgedWithoutCommits: cases the index never saw that
// are purged (most of a large store it first starts on) are passed over in a
// read-only transaction: the start commits for the cases it indexes and its
// progress, not once per 250 cases it skips (each commit is synced, even one
// that writes nothing).
func TestFirstStartSkipsPurgedWithoutCommits(t *testing.T) {
	h := newHarness(t)
	h.stop()
	h.store.Close()
	h.openStore()
	const purged = 2000
	h.update(func(tx *casestore.Tx) error {
		for i := range purged {
			if err := tx.PutCase(&casestore.Case{ID: fmt.Sprintf("P%02d-%04d", i%97, i), Created: h.now, State: casestore.StateClosed, Purged: true}); err != nil {
				return err
			}
		}
		return nil
	})
	h.addCase("AAA-0001", casestore.StateMediation, "Open Shop")
	h.addMessage("AAA-0001", "consumer", msg("jan@consumer.example", "Help", "Please help."))
	before := h.store.CommitStats().Commits
	h.start()
	c := h.client(nil)
	if got, want := caseFolderNames(t, c), []string{"Cases/AAA-0001-Open-Shop"}; !slices.Equal(got, want) {
		t.Fatalf("LIST %v, want %v", got, want)
	}
	commits := h.store.CommitStats().Commits - before
	t.Logf("%d commits for a first start over %d purged cases and one open", commits, purged)
	if commits > 3 {
		t.Errorf("%d commits for a first start over %d purged cases and one open, want at most 3", commits, purged)
	}
	if err := h.store.View(func(tx *casestore.Tx) error {
		if ids, _ := tx.CasesChangedAfter(tx.MailSeen(), 0); len(ids) != 0 {
			t.Errorf("%d changes left after the start", len(ids))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
