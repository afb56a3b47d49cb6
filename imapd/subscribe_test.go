package imapd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"parley/casestore"
)

// listed runs a LIST or LSUB command and returns its lines by folder name.
func listed(c *rawClient, command string) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for _, l := range c.ok("%s", command) {
		if !strings.HasPrefix(l, "* LSUB ") && !strings.HasPrefix(l, "* LIST ") {
			continue
		}
		// * LSUB (\HasNoChildren) "/" "Cases/K7Q-4M2P-Acme-Shop-Wholesale"
		i := strings.Index(l, `"/" `)
		if i < 0 {
			c.t.Fatalf("listing line %q", l)
		}
		out[strings.Trim(l[i+4:], `"`)] = l
	}
	return out
}

// Subscriptions are per mediator and recorded (RFC 3501 sections 6.3.6 to
// 6.3.9): every folder starts subscribed, UNSUBSCRIBE takes one out of LSUB
// and LIST (SUBSCRIBED) for that mediator only, across a restart and when the
// case folder moves to Closed/, and SUBSCRIBE brings it back; SUBSCRIBE to a
// folder that does not exist answers NO [NONEXISTENT].
func TestSubscriptions(t *testing.T) {
	h := newHarness(t)
	seed(h)
	addOtherMediator(h)
	a, o := h.raw(testUser, testPassword), h.raw(otherUser, otherPassword)

	all := listed(a, `LIST "" "*"`)
	subs := listed(a, `LSUB "" "*"`)
	if len(subs) != len(all) || subs[folderA] == "" || subs["Sent"] == "" || subs["INBOX"] == "" {
		t.Fatalf("LSUB before any UNSUBSCRIBE: %v, want every folder of %v", subs, all)
	}

	a.ok("UNSUBSCRIBE %q", folderA)
	a.ok("UNSUBSCRIBE Sent")
	a.ok("UNSUBSCRIBE Cases")
	if _, status := a.cmd("UNSUBSCRIBE Nope"); !strings.HasPrefix(status, "OK") {
		t.Errorf("UNSUBSCRIBE of a name never subscribed: %s, want OK", status)
	}
	if _, status := a.cmd("SUBSCRIBE Nope"); !strings.HasPrefix(status, "NO [NONEXISTENT]") {
		t.Errorf("SUBSCRIBE to a missing folder: %s, want NO [NONEXISTENT]", status)
	}
	subs = listed(a, `LSUB "" "*"`)
	for _, gone := range []string{folderA, "Sent", "Cases"} {
		if subs[gone] != "" {
			t.Errorf("LSUB still lists %s after UNSUBSCRIBE", gone)
		}
	}
	if subs[folderBUTF7] == "" || subs["Drafts"] == "" || subs["Nope"] != "" {
		t.Errorf("LSUB after UNSUBSCRIBE: %v", subs)
	}
	if sel := listed(a, `LIST (SUBSCRIBED) "" "*"`); sel[folderA] != "" || !strings.Contains(sel[folderBUTF7], `\Subscribed`) {
		t.Errorf("LIST (SUBSCRIBED): %v", sel)
	}
	ret := listed(a, `LIST "" "*" RETURN (SUBSCRIBED)`)
	if ret[folderA] == "" || strings.Contains(ret[folderA], `\Subscribed`) || !strings.Contains(ret[folderBUTF7], `\Subscribed`) {
		t.Errorf("LIST RETURN (SUBSCRIBED): %q / %q", ret[folderA], ret[folderBUTF7])
	}
	// The folder itself is still there, and the other mediator's list
	// did not change.
	if listed(a, `LIST "" "*"`)[folderA] == "" {
		t.Errorf("UNSUBSCRIBE removed %s from LIST", folderA)
	}
	if os := listed(o, `LSUB "" "*"`); os[folderA] == "" || os["Sent"] == "" {
		t.Errorf("the other mediator's LSUB changed: %v", os)
	}

	// The case closes: its folder moves to Closed/ and stays unsubscribed.
	closed := strings.Replace(folderA, casesRoot+"/", closedRoot+"/", 1)
	h.setState(caseA, casestore.StateClosed)
	waitFor(t, "the folder to move to Closed/", func() bool { return listed(a, `LIST "" "*"`)[closed] != "" })
	if subs := listed(a, `LSUB "" "*"`); subs[closed] != "" {
		t.Errorf("LSUB lists %s, unsubscribed before the case closed", closed)
	}

	// Recorded: a restart keeps it; SUBSCRIBE brings it back.
	h.restart()
	a = h.raw(testUser, testPassword)
	if subs := listed(a, `LSUB "" "*"`); subs[closed] != "" || subs["Sent"] != "" || subs[folderBUTF7] == "" {
		t.Errorf("LSUB after restart: %v", subs)
	}
	a.ok("SUBSCRIBE %q", closed)
	a.ok("SUBSCRIBE Sent")
	if subs := listed(a, `LSUB "" "*"`); subs[closed] == "" || subs["Sent"] == "" || subs["Cases"] != "" {
		t.Errorf("LSUB after SUBSCRIBE: %v", subs)
	}
}

// mbsync with SubscribedOnly reads LSUB: it syncs what the mediator is
// subscribed to and leaves out what they unsubscribed.
func TestSubscriptionsWithMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	h := newHarness(t)
	seed(h)
	a := h.raw(testUser, testPassword)
	a.ok("UNSUBSCRIBE %q", folderA)
	a.ok("UNSUBSCRIBE Trash")
	home := t.TempDir()
	maildir := filepath.Join(home, "Mail")
	conf := mbsyncConf(h, maildir, "SubscribedOnly yes\n", `Channel parley
Far :parley-remote:
Near :parley-local:
Patterns *
Create Near
Sync Pull
Expunge None
SyncState *
`)
	rc := filepath.Join(home, "mbsyncrc")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mbsync, "-c", rc, "-a")
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	exists := func(folder string) bool {
		_, err := os.Stat(filepath.Join(maildir, folder, "cur"))
		return err == nil
	}
	for _, f := range []string{"INBOX", folderBUTF7, folderA + "/Quarantine", "Sent", "Drafts"} {
		if !exists(f) {
			t.Errorf("mbsync (SubscribedOnly) did not sync subscribed %s", f)
		}
	}
	for _, f := range []string{folderA, "Trash"} {
		if exists(f) {
			t.Errorf("mbsync (SubscribedOnly) synced %s, which was unsubscribed", f)
		}
	}
}
