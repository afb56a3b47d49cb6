package imapd

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const missingScript = `
import imaplib, json, sys
port, user, pw, casefolder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
q = lambda s: '"' + s + '"'
raw = b"From: med@example.org\r\nSubject: mine\r\n\r\nmine\r\n"
out = {}
m = imaplib.IMAP4("127.0.0.1", int(port))
m.login(user, pw)
def run(name, fn):
    try:
        typ, data = fn()
        out[name] = [typ, data[0].decode() if data and data[0] else ""]
    except imaplib.IMAP4.error as e:
        out[name] = ["error", str(e)]
run("append missing", lambda: m.append(q("Nope/Never"), None, None, raw))
run("append case folder", lambda: m.append(q(casefolder), None, None, raw))
run("append parent", lambda: m.append("Cases", None, None, raw))
run("status missing", lambda: m.status(q("Nope"), "(MESSAGES)"))
run("delete missing", lambda: m.delete(q("Nope")))
run("rename missing", lambda: m.rename(q("Nope"), q("Other")))
run("rename case folder", lambda: m.rename(q(casefolder), q("Other")))
run("subscribe missing", lambda: m.subscribe(q("Nope")))
run("create existing", lambda: m.create(q(casefolder)))
run("create new", lambda: m.create(q("Mine")))
run("select missing", lambda: m.select(q("Nope")))
run("examine missing", lambda: m.select(q("Nope"), readonly=True))
run("append drafts", lambda: m.append("Drafts", None, None, raw))
m.select("Drafts")
run("copy missing", lambda: m.copy("1", q("Nope")))
run("uid copy missing", lambda: m.uid("COPY", "1", q("Nope")))
run("move missing", lambda: m._simple_command("MOVE", "1", q("Nope")))
run("copy to case folder", lambda: m.copy("1", q(casefolder)))
m.select(q(casefolder))
run("copy case mail out", lambda: m.copy("1", "Trash"))
run("copy case mail to missing", lambda: m.copy("1", q("Nope")))
run("move case mail", lambda: m._simple_command("MOVE", "1", "Trash"))
m.logout()
print(json.dumps(out))
`

// A folder that does not exist: APPEND, COPY and MOVE into it answer NO
// [TRYCREATE] (RFC 3501 sections 6.3.11 and 6.4.7); SELECT, EXAMINE, STATUS,
// DELETE, RENAME and SUBSCRIBE answer NO [NONEXISTENT] (RFC 5530). Folders
// that exist but refuse keep their own code and reason.
func TestMissingFolderCodes(t *testing.T) {
	py := need(t, "python3")
	h := newHarness(t)
	seed(h)
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	out, err := exec.Command(py, "-c", missingScript, port, testUser, testPassword, folderA).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	var res map[string][]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	for name, want := range map[string]string{
		"append missing":            "NO [TRYCREATE]",
		"append case folder":        "NO [CANNOT]",
		"append parent":             "NO [CANNOT]",
		"status missing":            "NO [NONEXISTENT]",
		"delete missing":            "NO [NONEXISTENT]",
		"rename missing":            "NO [NONEXISTENT]",
		"rename case folder":        "NO [CANNOT]",
		"subscribe missing":         "NO [NONEXISTENT]",
		"create existing":           "NO [ALREADYEXISTS]",
		"create new":                "NO [CANNOT]",
		"select missing":            "NO [NONEXISTENT]",
		"examine missing":           "NO [NONEXISTENT]",
		"append drafts":             "OK",
		"copy missing":              "NO [TRYCREATE]",
		"uid copy missing":          "NO [TRYCREATE]",
		"move missing":              "NO [TRYCREATE]",
		"copy to case folder":       "NO [CANNOT]",
		"copy case mail out":        "NO [CANNOT]",
		"copy case mail to missing": "NO [TRYCREATE]",
		"move case mail":            "NO [CANNOT]",
	} {
		r := res[name]
		if len(r) != 2 {
			t.Errorf("%s: no answer (%q)", name, r)
			continue
		}
		got := r[0]
		if code, _, ok := strings.Cut(r[1], "]"); ok && strings.HasPrefix(code, "[") && r[0] == "NO" {
			got += " " + code + "]"
		}
		if got != want {
			t.Errorf("%s answered %q, want %s", name, r, want)
		}
		if r[0] == "NO" && len(r[1]) < 20 {
			t.Errorf("%s: NO without a reason: %q", name, r)
		}
	}
}
