package imapd

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"parley/casestore"
)

const (
	otherUser     = "omar@example.org"
	otherPassword = "another fine password"
)

func addOtherMediator(h *harness) {
	h.update(func(tx *casestore.Tx) error {
		return tx.PutMediator(casestore.Mediator{Email: otherUser, Name: "Omar", Lang: "en", Password: cheapHash(otherPassword)})
	})
}

// sentRaw is what a mail client saves in Sent: bytes with a long line, a
// bare LF inside a header continuation and 8-bit text, to check nothing is
// rewritten.
var sentRaw = []byte("From: Mia Mediator <med@example.org>\r\n" +
	"To: k7q-4m2p.m.x@disputes.test\r\n" +
	"Subject: Proposal for a settlement\r\n" +
	"Date: Tue, 03 Nov 2026 08:15:00 +0100\r\n" +
	"Message-ID: <sent-1@example.org>\r\n" +
	"Reply-To: med@example.org\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Dear both, I propose a refund of 49,95 € against return of the kettle.\r\n" +
	strings.Repeat("x", 900) + "\r\n")

const personalScript = `
import base64, imaplib, json, sys
port, user, pw, casefolder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
raw = base64.b64decode(sys.argv[5])
out = {}
m = imaplib.IMAP4("127.0.0.1", int(port))
m.login(user, pw)
typ, lst = m.list()
out["list"] = [l.decode() for l in lst]
typ, data = m.append("Sent", "(\\Seen $Sent)", imaplib.Time2Internaldate(1762154100), raw)
out["append"] = [typ, data[0].decode()]
typ, data = m.select("Sent")
out["select"] = [typ, data[0].decode()]
typ, data = m.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
out["fetch_meta"] = data[0][0].decode()
out["fetch_body"] = base64.b64encode(data[0][1]).decode()
for i in range(3):
    m.append("Trash", None, None, b"Subject: junk %d\r\n\r\nbody\r\n" % i)
typ, data = m.select("Trash")
out["trash_before"] = data[0].decode()
typ, data = m.store("2", "+FLAGS", "(\\Deleted)")
out["store"] = [typ, data[0].decode()]
typ, data = m.expunge()
out["expunge"] = [typ, [d.decode() for d in data if d]]
typ, data = m.search(None, "ALL")
out["trash_after"] = data[0].decode()
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
out["trash_subjects"] = [d[1].decode().strip() for d in data if isinstance(d, tuple)]
try:
    typ, data = m.append('"' + casefolder + '"', None, None, raw)
    out["append_case"] = [typ, data[0].decode()]
except imaplib.IMAP4.error as e:
    out["append_case"] = ["error", str(e)]
m.select('"' + casefolder + '"')
typ, data = m.copy("1", "Drafts")
out["copy_case"] = [typ, data[0].decode() if data[0] else ""]
typ, data = m.status("Drafts", "(MESSAGES)")
out["drafts"] = data[0].decode()
out["logout"] = m.logout()[0]
print(json.dumps(out))
`

func TestPersonalFoldersWithImaplib(t *testing.T) {
	py := need(t, "python3")
	h := newHarness(t)
	seed(h)
	addOtherMediator(h)
	port := h.addr[strings.LastIndexByte(h.addr, ':')+1:]
	out, err := exec.Command(py, "-c", personalScript, port, testUser, testPassword, folderA, base64.StdEncoding.EncodeToString(sentRaw)).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 imaplib: %v\n%s", err, out)
	}
	var res struct {
		List                  []string
		Append, Select, Store []string
		AppendCase            []string `json:"append_case"`
		CopyCase              []string `json:"copy_case"`
		FetchMeta             string   `json:"fetch_meta"`
		FetchBody             string   `json:"fetch_body"`
		TrashBefore           string   `json:"trash_before"`
		TrashAfter            string   `json:"trash_after"`
		TrashSubjects         []string `json:"trash_subjects"`
		Expunge               []any
		Drafts, Logout        string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	for _, want := range []string{`(\HasNoChildren \Sent) "/" "Sent"`, `(\HasNoChildren \Drafts) "/" "Drafts"`, `(\HasNoChildren \Trash) "/" "Trash"`} {
		if !slices.Contains(res.List, want) {
			t.Errorf("LIST %q lacks %s", res.List, want)
		}
	}
	if res.Append[0] != "OK" || !strings.Contains(res.Append[1], "[APPENDUID ") || !strings.HasSuffix(strings.Fields(res.Append[1])[2], "1]") {
		t.Errorf("APPEND Sent %q", res.Append)
	}
	if !slices.Equal(res.Select, []string{"OK", "1"}) {
		t.Errorf("SELECT Sent %q", res.Select)
	}
	got, _ := base64.StdEncoding.DecodeString(res.FetchBody)
	if !bytes.Equal(got, sentRaw) {
		t.Errorf("Sent message came back changed:\n%q\nwant\n%q", got, sentRaw)
	}
	for _, want := range []string{`\Seen`, `$Sent`, `UID 1`, `3-Nov-2025 07:15:00 +0000"`, fmt.Sprintf("RFC822.SIZE %d", len(sentRaw))} {
		if !strings.Contains(res.FetchMeta, want) {
			t.Errorf("FETCH %q lacks %s", res.FetchMeta, want)
		}
	}
	if res.TrashBefore != "3" || res.Store[0] != "OK" || !strings.Contains(res.Store[1], `\Deleted`) {
		t.Errorf("Trash before %q, STORE %q", res.TrashBefore, res.Store)
	}
	if res.TrashAfter != "1 2" || !slices.Equal(res.TrashSubjects, []string{"Subject: junk 0", "Subject: junk 2"}) {
		t.Errorf("after EXPUNGE: %q %q (expunge said %v)", res.TrashAfter, res.TrashSubjects, res.Expunge)
	}
	if len(res.AppendCase) != 2 || res.AppendCase[0] == "OK" || !strings.Contains(res.AppendCase[1], "[CANNOT]") {
		t.Errorf("APPEND into a case folder answered %q, want NO [CANNOT]", res.AppendCase)
	}
	// Case mail cannot leave its folder: a copy would outlive the retention purge.
	if res.CopyCase[0] == "OK" || !strings.Contains(res.CopyCase[1], "[CANNOT]") || !strings.Contains(res.Drafts, "MESSAGES 0") {
		t.Errorf("COPY case -> Drafts %q, STATUS %q; want NO [CANNOT] and nothing copied", res.CopyCase, res.Drafts)
	}
	if res.Logout != "BYE" {
		t.Errorf("logout %q", res.Logout)
	}

	// The case folder is untouched, and another mediator has a Sent of
	// their own that is empty.
	c := h.client(nil)
	if sel, err := c.Select(folderA, nil).Wait(); err != nil || sel.NumMessages != 6 {
		t.Fatalf("case folder after the attempts: %v %+v", err, sel)
	}
	o, err := imapclient.DialInsecure(h.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Login(otherUser, otherPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := o.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Fatalf("second mediator's Sent: %v %+v", err, st)
	}
	if sel, err := o.Select("Trash", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("second mediator's Trash: %v %+v", err, sel)
	}
	if _, err := o.Select("p/"+testUser+"/Sent", nil).Wait(); err == nil {
		t.Errorf("a folder key reached another mediator's Sent")
	}
	st, err = c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("first mediator's Sent: %v %+v", err, st)
	}
}

func appendMsg(t *testing.T, c *imapclient.Client, folder string, raw []byte, opts *imap.AppendOptions) (*imap.AppendData, error) {
	t.Helper()
	cmd := c.Append(folder, int64(len(raw)), opts)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	return cmd.Wait()
}

func TestPersonalFolders(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.PersonalQuotaMessages = 4 }))
	seed(h)
	var mu sync.Mutex
	var exists []uint32
	c := h.client(nil)
	watcher := h.client(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			mu.Lock()
			exists = append(exists, *d.NumMessages)
			mu.Unlock()
		}
	}})

	// SPECIAL-USE: advertised, and the selection option lists only them.
	if !c.Caps().Has(imap.CapSpecialUse) || !c.Caps().Has(imap.CapMove) || !c.Caps().Has(imap.CapUIDPlus) {
		t.Errorf("capabilities %v", c.Caps())
	}
	special, err := c.List("", "*", &imap.ListOptions{SelectSpecialUse: true}).Collect()
	if err != nil || len(special) != 3 {
		t.Fatalf("LIST (SPECIAL-USE): %v %+v", err, special)
	}

	if _, err := watcher.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Repeat([]byte("Subject: big\r\n\r\n"), 1), bytes.Repeat([]byte("0123456789abcdef\r\n"), (casestore.InlineMax/18)+100)...)
	date := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	d1, err := appendMsg(t, c, "Drafts", big, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "$Later"}, Time: date})
	if err != nil {
		t.Fatalf("APPEND big draft: %v", err)
	}
	if _, err := appendMsg(t, c, "Drafts", msg(testUser, "Draft two", "Second draft."), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "EXISTS 2 in the idling session", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(exists, 2)
	})
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	if _, err := c.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ms := fetchAll(t, c, imap.UIDSetNum(d1.UID), &imap.FetchOptions{Flags: true, InternalDate: true, UID: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if len(ms) != 1 || !bytes.Equal(bodyOf(ms[0]), big) || !ms[0].InternalDate.Equal(date) ||
		!slices.Equal(flagStrings(ms[0].Flags), []string{`\Draft`, "$Later"}) {
		t.Fatalf("big draft came back as %d bytes, date %v, flags %v", len(bodyOf(ms[0])), ms[0].InternalDate, ms[0].Flags)
	}

	// MOVE re-files the message: same bytes and flags, new UID in Trash.
	trash0, err := c.Status("Trash", &imap.StatusOptions{UIDValidity: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	mv, err := c.Move(imap.UIDSetNum(d1.UID), "Trash").Wait()
	if err != nil {
		t.Fatalf("MOVE Drafts -> Trash: %v", err)
	}
	if mv.UIDValidity != trash0.UIDValidity || !slices.Equal(mv.DestUIDs.(imap.UIDSet), imap.UIDSetNum(trash0.UIDNext)) {
		t.Errorf("MOVE answered %+v, Trash was %+v", mv, trash0)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Sent").Wait(); err != nil {
		t.Fatalf("COPY Drafts -> Sent: %v", err)
	}
	if sel, err := c.Select("Drafts", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("Drafts after MOVE: %v %+v", err, sel)
	}

	// The quota (4 messages here): Drafts 1, Trash 1, Sent 1.
	if _, err := appendMsg(t, c, "Sent", msg(testUser, "Fourth", "Fits."), nil); err != nil {
		t.Fatalf("fourth message: %v", err)
	}
	if _, err := appendMsg(t, c, "Sent", msg(testUser, "Fifth", "Too many."), nil); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Errorf("fifth message: %v, want NO [OVERQUOTA]", err)
	}

	// Folders that stay, and case mail that stays.
	if err := c.Delete("Sent").Wait(); imapCode(err) != imap.ResponseCodeCannot {
		t.Errorf("DELETE Sent: %v", err)
	}
	if err := c.Create("Trash", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("CREATE Trash: %v", err)
	}
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Trash").Wait(); imapCode(err) != imap.ResponseCodeCannot {
		t.Errorf("MOVE out of a case folder: %v", err)
	}
	if sel, err := c.Select(folderA, nil).Wait(); err != nil || sel.NumMessages != 6 {
		t.Fatalf("case folder after MOVE: %v %+v", err, sel)
	}

	// UIDs and UIDVALIDITY survive a restart; UID EXPUNGE deletes for good.
	h.restart()
	c = h.client(nil)
	sel, err := c.Select("Trash", nil).Wait()
	if err != nil || sel.UIDValidity != trash0.UIDValidity || sel.NumMessages != 1 || sel.UIDNext != trash0.UIDNext+1 {
		t.Fatalf("Trash after restart: %v %+v (before %+v)", err, sel, trash0)
	}
	if !slices.Contains(sel.PermanentFlags, imap.FlagDeleted) {
		t.Errorf("PERMANENTFLAGS of Trash %v lack \\Deleted", sel.PermanentFlags)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(trash0.UIDNext)).Close(); err != nil {
		t.Fatalf("UID EXPUNGE: %v", err)
	}
	if st, err := c.Status("Trash", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 0 {
		t.Fatalf("Trash after UID EXPUNGE: %v %+v", err, st)
	}
	var u casestore.PersonalUsage
	if err := h.store.View(func(tx *casestore.Tx) (err error) { u, err = tx.PersonalUsage(testUser); return err }); err != nil || u.Messages != 3 {
		t.Errorf("usage after EXPUNGE: %+v %v", u, err)
	}
	sum := sha256.Sum256(big)
	if h.store.Blobs.Has(hex.EncodeToString(sum[:])) {
		t.Errorf("the expunged big draft's blob is still there")
	}
}

// Personal copies hold case content, so they are kept no longer than the
// cases themselves: the sweep expunges those past the retention period.
func TestPersonalFoldersRetention(t *testing.T) {
	h := newHarness(t)
	c := h.client(nil)
	old := time.Now().Add(-48 * time.Hour)
	msg := []byte("From: mia@example.org\r\nSubject: old reply\r\n\r\nold\r\n")
	if _, err := appendMsg(t, c, "Sent", msg, &imap.AppendOptions{Time: old}); err != nil {
		t.Fatal(err)
	}
	if _, err := appendMsg(t, c, "Sent", []byte("From: mia@example.org\r\nSubject: new reply\r\n\r\nnew\r\n"), &imap.AppendOptions{Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n, err := h.srv.idx.sweepPersonal(24*time.Hour, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want the one old message", n, err)
	}
	sel, err := c.Select("Sent", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("Sent after the sweep: %v %+v", err, sel)
	}
	if n, _ := h.srv.idx.sweepPersonal(24*time.Hour, time.Now()); n != 0 {
		t.Fatalf("second sweep removed %d more", n)
	}
}
