package imapd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// What mutt sends on sync ($) in a folder without ACL (mutt 2.2,
// imap/imap.c imap_sync_mailbox): the flags it changed as UID STORE
// +FLAGS.SILENT, then EXPUNGE in every folder, and on leaving CLOSE. A NO to
// any of them is shown as an error. Messages the user marked deleted are
// stored as +FLAGS.SILENT (\Deleted) first.
const muttSyncScript = `
import imaplib, json, sys
port, user, pw, folder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
m = imaplib.IMAP4("127.0.0.1", int(port))
m.login(user, pw)
typ, data = m.select('"' + folder + '"')
out["select"] = typ
out["flags"] = [r.decode() for r in m.untagged_responses.get("FLAGS", [])]
out["permanentflags"] = [r.decode() for r in m.untagged_responses.get("OK", []) if r.startswith(b"[PERMANENTFLAGS")]
def run(name, fn):
    typ, data = fn()
    out[name] = [typ, data[0].decode() if data and data[0] else ""]
run("store flagged", lambda: m.uid("STORE", "1", "+FLAGS.SILENT", "(\\Flagged)"))
run("expunge", lambda: m.expunge())
run("store deleted", lambda: m.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"))
run("close", lambda: m.close())
m.logout()
print(json.dumps(out))
`

// A case folder cannot expunge: its FLAGS and PERMANENTFLAGS leave \Deleted
// out, so clients do not offer to delete, and mutt's sync passes: EXPUNGE
// and CLOSE answer OK (nothing carries \Deleted); setting \Deleted answers
// NO [CANNOT] with the reason, which mutt shows as the error it is.
func TestMuttSyncInCaseFolder(t *testing.T) {
	py := need(t, "python3")
	h := newHarness(t)
	seed(h)
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	out, err := exec.Command(py, "-c", muttSyncScript, port, testUser, testPassword, folderA).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	var res struct {
		Select         string
		Flags          []string
		PermanentFlags []string
		StoreFlagged   []string `json:"store flagged"`
		Expunge        []string
		StoreDeleted   []string `json:"store deleted"`
		Close          []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if res.Select != "OK" || len(res.Flags) != 1 || len(res.PermanentFlags) != 1 {
		t.Fatalf("SELECT %s, FLAGS %q, PERMANENTFLAGS %q", res.Select, res.Flags, res.PermanentFlags)
	}
	if strings.Contains(res.Flags[0], `\Deleted`) || strings.Contains(res.PermanentFlags[0], `\Deleted`) {
		t.Errorf("a case folder offers \\Deleted: FLAGS %q, PERMANENTFLAGS %q", res.Flags[0], res.PermanentFlags[0])
	}
	for name, r := range map[string][]string{"UID STORE \\Flagged": res.StoreFlagged, "EXPUNGE": res.Expunge, "CLOSE": res.Close} {
		if len(r) != 2 || r[0] != "OK" {
			t.Errorf("%s answered %q, want OK", name, r)
		}
	}
	if r := res.StoreDeleted; len(r) != 2 || r[0] != "NO" || !strings.HasPrefix(r[1], "[CANNOT]") || !strings.Contains(r[1], "evidence") {
		t.Errorf("UID STORE \\Deleted answered %q, want NO [CANNOT] with the reason", r)
	}
	c := h.client(nil)
	if sel, err := c.Select(folderA, nil).Wait(); err != nil || sel.NumMessages != 6 {
		t.Fatalf("after the sync: %v %+v", err, sel)
	}
	ms := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	if len(ms) != 1 || !slices.Contains(ms[0].Flags, imap.FlagFlagged) {
		t.Errorf("message 1 after the sync: %+v", ms)
	}
}

// muttDriver runs mutt on a pseudo-terminal: it waits for the index, types
// the keys, and prints the screen text after each.
const muttDriver = `
import os, pty, select, sys, time
home, url = sys.argv[1], sys.argv[2]
keys = sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update({"TERM": "vt100", "HOME": home, "LC_ALL": "C.UTF-8"})
    os.execvp("mutt", ["mutt", "-n", "-F", os.path.join(home, "muttrc"), "-f", url])
def pump(until, timeout):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
            if any(u in out for u in until):
                break
    return out.decode("utf-8", "replace")
screens = [pump([b"Msgs:"], 20)]
for k in keys:
    os.write(fd, k.encode())
    screens.append(pump([b"kept", b"failed", b"rror", b"Closing"], 5))
try:
    os.kill(pid, 9)
except OSError:
    pass
print("\n=====\n".join(screens))
`

// The real mutt: flag a message in a case folder, sync ($), quit. No error,
// and the flag is kept. CI installs mutt (.ci/run); elsewhere the test
// skips without it.
func TestMuttRealSync(t *testing.T) {
	if _, err := exec.LookPath("mutt"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mutt is not installed; .ci/run installs it")
		}
		t.Skip("mutt is not installed (Debian: apt-get install mutt)")
	}
	py := need(t, "python3")
	h := newHarness(t)
	seed(h)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "Mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := strings.Join([]string{
		`set imap_user="` + testUser + `"`, `set imap_pass="` + testPassword + `"`,
		"set ssl_starttls=no", "set ssl_force_tls=no", "set imap_idle=no", `set header_cache=""`,
		`set message_cachedir=""`, "set move=no", "set mark_old=no", "set delete=yes", "set sort=mailbox-order",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(home, "muttrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "imap://" + h.addr + "/" + folderA
	out, err := exec.Command(py, "-c", muttDriver, home, url, "F", "$", "q").CombinedOutput()
	if err != nil {
		t.Fatalf("mutt driver: %v\n%s", err, out)
	}
	screens := strings.Split(string(out), "\n=====\n")
	if len(screens) != 4 || !strings.Contains(screens[0], "Msgs:6") {
		t.Fatalf("mutt did not open the folder:\n%s", out)
	}
	sync := screens[2]
	if !strings.Contains(sync, "6 kept, 0 deleted") || strings.Contains(sync, "failed") || strings.Contains(sync, "rror") {
		t.Errorf("mutt's sync ($) in a case folder:\n%q", sync)
	}
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ms := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true})
	if len(ms) != 1 || !slices.Contains(ms[0].Flags, imap.FlagFlagged) {
		t.Errorf("message 1 after mutt's sync: %+v", ms)
	}
}
