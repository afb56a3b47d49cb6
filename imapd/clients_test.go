package imapd

// Real clients against a real loopback server: python3's imaplib, curl and
// mbsync (isync). CI installs all three (.ci/run); a test skips only when the
// program is truly absent.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// folderBUTF7 is folderB as it goes over the wire (RFC 3501 modified UTF-7),
// which is also the folder name mbsync 1.4 writes.
const folderBUTF7 = "Closed/ABC-1234-Bolt-&--Co"

func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		pkg := prog
		if prog == "mbsync" {
			pkg = "isync"
		}
		// CI installs every client (.ci/run): there a missing one is a failure,
		// not a reason to pass without testing.
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (Debian: apt-get install %s)", prog, pkg)
		}
		t.Skipf("%s is not installed (Debian: apt-get install %s); CI installs it", prog, pkg)
	}
	return p
}

const imaplibScript = `
import base64, imaplib, json, sys
port, user, pw, folder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
m = imaplib.IMAP4("127.0.0.1", int(port))
out["login"] = m.login(user, pw)[0]
typ, lst = m.list()
out["list"] = [l.decode() for l in lst]
q = '"' + folder + '"'
typ, data = m.select(q)
out["select"] = [typ, data[0].decode()]
typ, data = m.fetch("1:*", "(UID BODY.PEEK[] ENVELOPE BODYSTRUCTURE)")
msgs = []
for item in data:
    if isinstance(item, tuple):
        msgs.append({"meta": item[0].decode(), "body": base64.b64encode(item[1]).decode()})
out["fetch"] = msgs
typ, data = m.store("1", "+FLAGS", "(\\Flagged $Python)")
out["store"] = [typ, data[0].decode()]
typ, data = m.search(None, "FLAGGED")
out["search_flagged"] = data[0].decode()
typ, data = m.search(None, "BODY", "invoice")
out["search_body"] = data[0].decode()
typ, data = m.uid("SEARCH", "KEYWORD", "$Python")
out["uid_search"] = data[0].decode()
for name, fn in [("expunge", lambda: m.expunge()),
                 ("delete", lambda: m.delete(q)),
                 ("create", lambda: m.create("Mine")),
                 ("append", lambda: m.append(q, None, None, b"Subject: x\r\n\r\ny\r\n"))]:
    try:
        typ, data = fn()
        out[name] = [typ, data[0].decode() if data and data[0] else ""]
    except imaplib.IMAP4.error as e:
        out[name] = ["error", str(e)]
out["logout"] = m.logout()[0]
print(json.dumps(out))
`

func TestPythonImaplib(t *testing.T) {
	py := need(t, "python3")
	h := newHarness(t)
	s := seed(h)
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	cmd := exec.Command(py, "-c", imaplibScript, port, testUser, testPassword, folderA)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	var res struct {
		Login, Logout                           string
		List                                    []string
		Select, Store                           []string
		Fetch                                   []struct{ Meta, Body string }
		SearchFlagged                           string `json:"search_flagged"`
		SearchBody                              string `json:"search_body"`
		UIDSearch                               string `json:"uid_search"`
		Expunge, Delete, Create, Append, Rename []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if res.Login != "OK" || res.Logout != "BYE" {
		t.Errorf("login %q logout %q", res.Login, res.Logout)
	}
	if !slices.ContainsFunc(res.List, func(l string) bool { return strings.HasSuffix(l, `"`+folderA+`"`) }) {
		t.Errorf("LIST %q lacks %s", res.List, folderA)
	}
	if !slices.ContainsFunc(res.List, func(l string) bool { return strings.Contains(l, "Caf&AOk--&ANw-n&AO8-code") }) {
		t.Errorf("LIST %q lacks the modified UTF-7 name of %s", res.List, folderC)
	}
	if !slices.Equal(res.Select, []string{"OK", "6"}) {
		t.Errorf("SELECT %q", res.Select)
	}
	if len(res.Fetch) != 6 {
		t.Fatalf("FETCH returned %d messages", len(res.Fetch))
	}
	for i, want := range map[int][]byte{0: h.served(caseA, s.consumer), 1: h.servedNotice(caseA, s.relay), 3: h.served(caseA, s.malformed), 4: h.served(caseA, s.multipart)} {
		got, _ := base64.StdEncoding.DecodeString(res.Fetch[i].Body)
		if !bytes.Equal(got, want) {
			t.Errorf("message %d BODY[] via imaplib:\n%q", i+1, got)
		}
	}
	meta := res.Fetch[4].Meta
	for _, want := range []string{`"Invoice attached"`, `"application" "pdf"`, `"mixed"`, h.mediatorAddr(caseA)[:8]} {
		if !strings.Contains(meta, want) {
			t.Errorf("ENVELOPE/BODYSTRUCTURE of message 5 lacks %s: %s", want, meta)
		}
	}
	if res.Store[0] != "OK" || !strings.Contains(res.Store[1], `\Flagged $Python`) {
		t.Errorf("STORE %q", res.Store)
	}
	if res.SearchFlagged != "1" || res.SearchBody != "5" || res.UIDSearch != "1" {
		t.Errorf("SEARCH FLAGGED %q, BODY invoice %q, UID SEARCH KEYWORD %q", res.SearchFlagged, res.SearchBody, res.UIDSearch)
	}
	// EXPUNGE finds nothing to remove in a case folder and says OK.
	if len(res.Expunge) != 2 || res.Expunge[0] != "OK" {
		t.Errorf("EXPUNGE answered %q, want OK", res.Expunge)
	}
	for name, r := range map[string][]string{"DELETE": res.Delete, "CREATE": res.Create, "APPEND": res.Append} {
		if len(r) != 2 || (r[0] != "NO" && r[0] != "error") || !strings.Contains(r[1], "[CANNOT]") {
			t.Errorf("%s answered %q, want NO [CANNOT]", name, r)
		}
	}
}

func TestCurl(t *testing.T) {
	curl := need(t, "curl")
	h := newHarness(t)
	s := seed(h)
	user := testUser + ":" + testPassword
	out, err := exec.Command(curl, "-sS", "--max-time", "20", "imap://"+h.addr+"/", "--user", user).CombinedOutput()
	if err != nil {
		t.Fatalf("curl LIST: %v\n%s", err, out)
	}
	for _, want := range []string{`"/" INBOX`, `"` + folderA + `"`, `"` + folderBUTF7 + `"`, `"` + folderA + `/Quarantine"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("curl LIST lacks %s:\n%s", want, out)
		}
	}
	url := "imap://" + h.addr + "/" + strings.ReplaceAll(strings.ReplaceAll(folderA, "/", "%2F"), " ", "%20") + ";UID=5"
	out, err = exec.Command(curl, "-sS", "--max-time", "20", url, "--user", user).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	if !bytes.Equal(out, h.served(caseA, s.multipart)) {
		t.Errorf("curl UID=5 =\n%q\nwant\n%q", out, h.served(caseA, s.multipart))
	}
	// curl fetched BODY[] without PEEK: the message is \Seen for everyone now.
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ms := fetchAll(t, c, imap.UIDSetNum(5), &imap.FetchOptions{Flags: true})
	if len(ms) != 1 || !slices.Contains(ms[0].Flags, imap.FlagSeen) {
		t.Errorf("after curl's fetch: %+v", ms)
	}
}

func TestMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	h := newHarness(t)
	s := seed(h)
	// Set flags first: they must arrive in the Maildir.
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	maildir := filepath.Join(home, "Mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := mbsyncConf(h, maildir, "", `Channel parley
Far :parley-remote:
Near :parley-local:
Patterns * !Sent
Create Near
Sync Pull
Expunge None
SyncState *

Channel parley-sent
Far :parley-remote:Sent
Near :parley-local:Sent
Create Near
Sync Pull Push
Expunge None
SyncState *
`)
	// A message written locally goes up to the personal Sent folder.
	sentDir := filepath.Join(maildir, "Sent")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(sentDir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sentDir, "cur", "1762160000.1_1.local:2,S"), bytes.ReplaceAll(sentRaw, []byte("\r\n"), []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mbsync, "-c", rc, "-a")
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	tuid := regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)
	read := func(folder string) map[string][]byte { // Maildir info flags -> contents
		out := map[string][]byte{}
		for _, sub := range []string{"cur", "new"} {
			dir := filepath.Join(maildir, folder, sub)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatalf("maildir %s: %v", dir, err)
			}
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				info := ""
				if i := strings.Index(e.Name(), ":2,"); i >= 0 {
					info = e.Name()[i+3:]
				}
				// mbsync stores messages with Unix line ends and its own
				// X-TUID tracking field added to the header.
				out[tuid.ReplaceAllString(strings.ReplaceAll(string(b), "\r\n", "\n"), "")] = []byte(info)
			}
		}
		return out
	}
	got := read(folderA)
	if len(got) != 6 {
		t.Fatalf("Maildir %s holds %d messages, want 6", folderA, len(got))
	}
	for raw, wantFlags := range map[string]string{
		string(h.served(caseA, s.consumer)):    "FS",
		string(h.servedNotice(caseA, s.relay)): "",
		string(h.served(caseA, s.malformed)):   "",
		string(h.served(caseA, s.multipart)):   "R",
	} {
		flags, ok := got[strings.ReplaceAll(raw, "\r\n", "\n")]
		if !ok {
			t.Errorf("message missing or changed in the Maildir:\n%.200q", raw)
			continue
		}
		if string(flags) != wantFlags {
			t.Errorf("Maildir flags %q, want %q for %.60q", flags, wantFlags, raw)
		}
	}
	if q := read(folderA + "/Quarantine"); len(q) != 1 {
		t.Errorf("quarantine Maildir holds %d messages", len(q))
	}
	if in := read("INBOX"); len(in) != 3 {
		t.Errorf("INBOX Maildir holds %d messages", len(in))
	}
	if cl := read(folderBUTF7); len(cl) != 1 {
		t.Errorf("%s Maildir holds %d messages", folderB, len(cl))
	}
	// A second run finds nothing new and changes nothing on the server.
	cmd = exec.Command(mbsync, "-c", rc, "-a")
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second mbsync: %v\n%s", err, out)
	}
	if again := read(folderA); len(again) != 6 {
		t.Errorf("after the second sync the Maildir holds %d messages", len(again))
	}
	if sent := read("Sent"); len(sent) != 1 {
		t.Errorf("Sent Maildir holds %d messages after the push", len(sent))
	}
	sel, err := c.Select("Sent", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("Sent after mbsync's push: %v %+v", err, sel)
	}
	ms := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if got := tuid.ReplaceAll(bodyOf(ms[0]), nil); len(ms) != 1 || !bytes.Equal(bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(sentRaw, []byte("\r\n"), []byte("\n"))) ||
		!slices.Contains(ms[0].Flags, imap.FlagSeen) {
		t.Errorf("Sent message from mbsync: flags %v\n%q", ms[0].Flags, got)
	}
}

// mbsyncConf is an mbsync configuration for the test mediator against the
// harness: the IMAP account, its remote store (with remote lines such as
// "SubscribedOnly yes"), a Maildir store in maildir, and the channels.
func mbsyncConf(h *harness, maildir, remote, channels string) string {
	host, port, _ := net.SplitHostPort(h.addr)
	return fmt.Sprintf(`IMAPAccount parley
Host %s
Port %s
User %s
Pass "%s"
SSLType None
AuthMechs LOGIN

IMAPStore parley-remote
Account parley
%s
MaildirStore parley-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

%s`, host, port, testUser, testPassword, remote, maildir, maildir, channels)
}
