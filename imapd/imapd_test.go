package imapd

import (
	"bytes"
	"errors"
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
	caseA = "K7Q-4M2P" // in mediation
	caseB = "ABC-1234" // closed
	caseC = "XYZ-9876" // open, non-ASCII trader name

	folderA = "Cases/K7Q-4M2P-Acme-Shop-Wholesale"
	folderB = "Closed/ABC-1234-Bolt-&-Co"
	folderC = "Cases/XYZ-9876-Café-Ünïcode"
)

// seeded is the test data: raw messages by what they are.
type seeded struct {
	consumer, relay, stranger, malformed, multipart, closedMsg, cafe []byte
}

var multipartRaw = []byte("From: Acme <support@acme.example>\r\n" +
	"To: case@disputes.test\r\n" +
	"Reply-To: sales@acme.example,\r\n" +
	"  other@acme.example\r\n" +
	"Subject: Invoice attached\r\n" +
	"Date: Mon, 02 Nov 2026 11:00:00 +0100\r\n" +
	"Message-ID: <inv-1@acme.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Here is the invoice for order 1234.\r\n" +
	"--b1\r\n" +
	"Content-Type: application/pdf; name=\"invoice.pdf\"\r\n" +
	"Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQKJcfsj6IKNSAwIG9iago=\r\n" +
	"--b1--\r\n")

// malformedRaw has a header line without a colon and a boundary that never occurs.
var malformedRaw = []byte("From: support@acme.example\r\n" +
	"Subject: broken one\r\n" +
	"this line has no colon\r\n" +
	"Content-Type: multipart/mixed; boundary=\"never\"\r\n" +
	"\r\n" +
	"We will refund you, promised.\r\n")

func seed(h *harness) seeded {
	h.t.Helper()
	s := seeded{
		consumer:  msg("jan@consumer.example", "Still broken", "The kettle still leaks. I want my 49.95 EUR back."),
		relay:     msg("Jan via Parley <k7q-4m2p.c.x@disputes.test>", "Re: [K7Q-4M2P] Still broken", "Relayed text.", "Reply-To: <k7q-4m2p.c.x@disputes.test>"),
		stranger:  msg("mallory@evil.example", "I am the trader, really", "Send the money to me."),
		malformed: malformedRaw,
		multipart: multipartRaw,
		closedMsg: msg("jan@consumer.example", "Thanks", "Resolved, thank you."),
		cafe:      msg("jan@consumer.example", "Croissant", "Stale croissant."),
	}
	h.addCase(caseA, casestore.StateMediation, "Acme Shop/Wholesale")
	h.addMessage(caseA, "consumer", s.consumer)
	h.addOutbound(caseA, s.relay)
	h.addNote(caseA, "Called the trader: refund promised by Friday.")
	h.addMessage(caseA, "trader", s.stranger, casestore.FlagQuarantined)
	h.addMessage(caseA, "trader", s.malformed, casestore.FlagMalformed)
	h.addMessage(caseA, "trader", s.multipart)
	h.addMessage(caseA, "consumer", msg("jan@consumer.example", "Out of office", "Away."), casestore.FlagAutoReply)

	h.addCase(caseB, casestore.StateClosed, "Bolt & Co")
	h.addMessage(caseB, "consumer", s.closedMsg)

	h.addCase(caseC, casestore.StateOpen, "Café Ünïcode")
	h.addMessage(caseC, "consumer", s.cafe)
	return s
}

func listNames(t *testing.T, c *imapclient.Client) map[string][]imap.MailboxAttr {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	out := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		out[l.Mailbox] = l.Attrs
	}
	return out
}

func fetchAll(t *testing.T, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	return msgs
}

func bodyOf(m *imapclient.FetchMessageBuffer) []byte {
	for _, s := range m.BodySection {
		return s.Bytes
	}
	return nil
}

func TestFoldersAndThread(t *testing.T) {
	h := newHarness(t)
	s := seed(h)
	c := h.client(nil)

	names := listNames(t, c)
	for _, want := range []string{"INBOX", "Cases", "Closed", folderA, folderA + "/Quarantine", folderB, folderC} {
		if _, ok := names[want]; !ok {
			t.Errorf("LIST lacks %q; got %v", want, names)
		}
	}
	if !slices.Contains(names["Cases"], imap.MailboxAttrNoSelect) {
		t.Errorf("Cases attrs %v, want \\Noselect", names["Cases"])
	}
	if !slices.Contains(names[folderA], imap.MailboxAttrHasChildren) {
		t.Errorf("%s attrs %v, want \\HasChildren", folderA, names[folderA])
	}

	// The case folder: the whole thread in order, quarantined mail apart.
	sel, err := c.Select(folderA, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 6 || sel.UIDValidity == 0 || sel.UIDNext != 7 {
		t.Fatalf("SELECT %s: %d messages, UIDVALIDITY %d, UIDNEXT %d; want 6, non-zero, 7", folderA, sel.NumMessages, sel.UIDValidity, sel.UIDNext)
	}
	msgs := fetchAll(t, c, imap.SeqSetNum(1, 2, 3, 4, 5, 6), &imap.FetchOptions{
		UID: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	if len(msgs) != 6 {
		t.Fatalf("fetched %d messages, want 6", len(msgs))
	}
	want := [][]byte{h.served(caseA, s.consumer), h.servedNotice(caseA, s.relay), nil, h.served(caseA, s.malformed), h.served(caseA, s.multipart)}
	for i, w := range want {
		if w == nil {
			continue
		}
		if got := bodyOf(msgs[i]); !bytes.Equal(got, w) {
			t.Errorf("message %d: BODY[] =\n%q\nwant\n%q", i+1, got, w)
		}
	}
	note := string(bodyOf(msgs[2]))
	if !strings.Contains(note, "Called the trader: refund promised by Friday.") || !strings.Contains(note, "Content-Type: text/plain") {
		t.Errorf("note message:\n%s", note)
	}
	for i, m := range msgs {
		if m.UID != imap.UID(i+1) {
			t.Errorf("message %d has UID %d", i+1, m.UID)
		}
		if m.RFC822Size != int64(len(bodyOf(m))) {
			t.Errorf("message %d: RFC822.SIZE %d, body %d bytes", i+1, m.RFC822Size, len(bodyOf(m)))
		}
		if n := strings.Count(strings.ToLower(string(bodyOf(m))), "\nreply-to:") + strings.Count(strings.ToLower(string(bodyOf(m)[:9])), "reply-to:"); n != 1 {
			t.Errorf("message %d has %d Reply-To fields", i+1, n)
		}
		if m.Envelope == nil || len(m.Envelope.ReplyTo) != 1 || m.Envelope.ReplyTo[0].Addr() != h.mediatorAddr(caseA) {
			t.Errorf("message %d: envelope Reply-To %+v, want %s", i+1, m.Envelope, h.mediatorAddr(caseA))
		}
		if i > 0 && m.InternalDate.Before(msgs[i-1].InternalDate) {
			t.Errorf("message %d is older than the one before it", i+1)
		}
	}
	if msgs[4].Envelope.Subject != "Invoice attached" || msgs[4].Envelope.From[0].Addr() != "support@acme.example" {
		t.Errorf("multipart envelope %+v", msgs[4].Envelope)
	}
	if msgs[3].Envelope.Subject != "broken one" {
		t.Errorf("malformed envelope subject %q", msgs[3].Envelope.Subject)
	}

	// BODYSTRUCTURE and parts of the multipart message.
	ms := fetchAll(t, c, imap.SeqSetNum(5), &imap.FetchOptions{
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Part: []int{1}, Peek: true}, {Part: []int{2}, Peek: true},
			{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "Reply-To"}, Peek: true},
		},
	})
	mp, ok := ms[0].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || mp.Subtype != "mixed" {
		t.Fatalf("BODYSTRUCTURE %#v", ms[0].BodyStructure)
	}
	if att := mp.Children[1].(*imap.BodyStructureSinglePart); att.Type != "application" || att.Subtype != "pdf" || att.Disposition().Params["filename"] != "invoice.pdf" {
		t.Errorf("attachment part %#v", att)
	}
	secs := ms[0].BodySection
	if string(secs[0].Bytes) != "Here is the invoice for order 1234." {
		t.Errorf("BODY[1] = %q", secs[0].Bytes)
	}
	if string(secs[1].Bytes) != "JVBERi0xLjQKJcfsj6IKNSAwIG9iago=" {
		t.Errorf("BODY[2] = %q", secs[1].Bytes)
	}
	if want := "Reply-To: <" + h.mediatorAddr(caseA) + ">\r\nSubject: Invoice attached\r\n\r\n"; string(secs[2].Bytes) != want {
		t.Errorf("BODY[HEADER.FIELDS (Subject Reply-To)] = %q, want %q", secs[2].Bytes, want)
	}

	// Quarantine holds the stranger's mail.
	if sel, err := c.Select(folderA+"/Quarantine", nil).Wait(); err != nil || sel.NumMessages != 1 {
		t.Fatalf("SELECT quarantine: %v, %+v", err, sel)
	}
	qm := fetchAll(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	if !bytes.Equal(bodyOf(qm[0]), h.served(caseA, s.stranger)) {
		t.Errorf("quarantine message %q", bodyOf(qm[0]))
	}

	// INBOX: party mail of cases in mediation only.
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 3 {
		t.Fatalf("SELECT INBOX: %v, %+v (want 3 messages)", err, sel)
	}
	im := fetchAll(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Envelope: true})
	var subjects []string
	for _, m := range im {
		subjects = append(subjects, m.Envelope.Subject)
	}
	if !slices.Equal(subjects, []string{"Still broken", "broken one", "Invoice attached"}) {
		t.Errorf("INBOX subjects %q", subjects)
	}

	// Closed and non-ASCII folders select too (the name travels in modified UTF-7).
	for _, f := range []string{folderB, folderC} {
		if sel, err := c.Select(f, nil).Wait(); err != nil || sel.NumMessages != 1 {
			t.Errorf("SELECT %s: %v, %+v", f, err, sel)
		}
	}
	if _, err := c.Select("Cases", nil).Wait(); err == nil {
		t.Errorf("SELECT of the Cases parent succeeded")
	}
	if _, err := c.Select("Cases/NOPE", nil).Wait(); err == nil {
		t.Errorf("SELECT of a missing folder succeeded")
	}
}

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func TestEvidenceCannotBeDestroyed(t *testing.T) {
	h := newHarness(t)
	seed(h)
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// EXPUNGE has nothing to remove (no message can carry \Deleted) and
	// answers OK, so a client's sync does not fail (mutt_test.go).
	if err := c.Expunge().Close(); err != nil {
		t.Errorf("EXPUNGE: %v", err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(1)).Close(); err != nil {
		t.Errorf("UID EXPUNGE: %v", err)
	}
	checks := map[string]error{
		"STORE \\Deleted": c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(),
		"COPY":            func() error { _, err := c.Copy(imap.SeqSetNum(1), "INBOX").Wait(); return err }(),
		"DELETE":          c.Delete(folderA).Wait(),
		"DELETE INBOX":    c.Delete("INBOX").Wait(),
		"RENAME":          c.Rename(folderA, "Cases/mine", nil).Wait(),
		"CREATE":          c.Create("Private", nil).Wait(),
	}
	app := c.Append(folderA, int64(len(multipartRaw)), nil)
	app.Write(multipartRaw)
	app.Close()
	_, checks["APPEND"] = app.Wait()
	for what, err := range checks {
		if err == nil {
			t.Errorf("%s succeeded", what)
			continue
		}
		if code := imapCode(err); code != imap.ResponseCodeCannot {
			t.Errorf("%s: %v (code %q), want NO [CANNOT]", what, err, code)
		}
	}
	if sel, err := c.Select(folderA, nil).Wait(); err != nil || sel.NumMessages != 6 {
		t.Fatalf("after the attempts: %v, %+v", err, sel)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Errorf("UNSELECT: %v", err)
	}
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// CLOSE expunges nothing and succeeds.
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE: %v", err)
	}
}

func TestFlagsSharedThroughIdle(t *testing.T) {
	h := newHarness(t)
	seed(h)
	var (
		mu       sync.Mutex
		gotFlags = map[uint32][]imap.Flag{}
		mbFlags  []imap.Flag
	)
	watcher := h.client(&imapclient.UnilateralDataHandler{
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err != nil {
				return
			}
			mu.Lock()
			gotFlags[buf.SeqNum] = buf.Flags
			mu.Unlock()
		},
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.Flags != nil {
				mu.Lock()
				mbFlags = d.Flags
				mu.Unlock()
			}
		},
	})
	actor := h.client(nil)
	for _, c := range []*imapclient.Client{watcher, actor} {
		if _, err := c.Select(folderA, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// Lower-case on input; RFC casing on output.
	res, err := actor.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"\\flagged", "\\SEEN", "$Urgent"}}, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := flagStrings(res[0].Flags); !slices.Equal(got, []string{"\\Flagged", "\\Seen", "$Urgent"}) {
		t.Errorf("STORE answered flags %q", got)
	}
	// The watcher selected the folder first, so its messages are \Recent
	// there (and only there).
	waitFor(t, "the flag change to reach the idling session", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(gotFlags[2]) == 4
	})
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got := flagStrings(gotFlags[2]); !slices.Equal(got, []string{"\\Flagged", "\\Seen", "$Urgent", "\\Recent"}) {
		t.Errorf("idle session saw flags %q", got)
	}
	if !slices.Contains(mbFlags, "$Urgent") {
		t.Errorf("idle session saw FLAGS %q, want the new keyword", mbFlags)
	}
	mu.Unlock()

	// The same message in INBOX carries the same flags (one shared state),
	// and a keyword in another case keeps its first casing.
	ms := fetchAll(t, watcher, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true})
	if !slices.Contains(ms[0].Flags, "$Urgent") {
		t.Errorf("watcher FETCH FLAGS %q", ms[0].Flags)
	}
	if _, err := actor.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := actor.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$URGENT", imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	// A NOOP delivers the change to the other session.
	mu.Lock()
	clear(gotFlags)
	mu.Unlock()
	if err := watcher.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NOOP's FETCH to be handled", func() bool { mu.Lock(); defer mu.Unlock(); return gotFlags[5] != nil })
	mu.Lock()
	got := flagStrings(gotFlags[5])
	mu.Unlock()
	if !slices.Equal(got, []string{"\\Answered", "$Urgent", "\\Recent"}) {
		t.Errorf("after NOOP the watcher saw flags %q for message 5", got)
	}
	// Searching by flag works in both folders.
	sd, err := actor.Search(&imap.SearchCriteria{Flag: []imap.Flag{"$urgent"}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllSeqNums(), []uint32{3}) {
		t.Errorf("SEARCH KEYWORD: %v %v", err, sd)
	}
	// Flags survive a restart.
	h.restart()
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ms = fetchAll(t, c, imap.SeqSetNum(2, 5), &imap.FetchOptions{Flags: true})
	if got := flagStrings(ms[0].Flags); !slices.Equal(got, []string{"\\Flagged", "\\Seen", "$Urgent"}) {
		t.Errorf("after restart message 2 has %q", got)
	}
	if got := flagStrings(ms[1].Flags); !slices.Equal(got, []string{"\\Answered", "$Urgent"}) {
		t.Errorf("after restart message 5 has %q", got)
	}
}

func TestSearch(t *testing.T) {
	h := newHarness(t)
	s := seed(h)
	c := h.client(nil)
	if _, err := c.Select(folderA, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		crit imap.SearchCriteria
		want []uint32
	}{
		{"all", imap.SearchCriteria{}, []uint32{1, 2, 3, 4, 5, 6}},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "invoice"}}}, []uint32{5}},
		{"body in text part", imap.SearchCriteria{Body: []string{"ORDER 1234"}}, []uint32{5}},
		{"body of malformed", imap.SearchCriteria{Body: []string{"refund you"}}, []uint32{4}},
		{"text of note", imap.SearchCriteria{Text: []string{"friday"}}, []uint32{3}},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "jan@consumer"}}}, []uint32{1, 6}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{1, 2, 3, 4, 5, 6}},
		{"larger", imap.SearchCriteria{Larger: int64(len(h.served(caseA, s.multipart))) - 1}, []uint32{5}},
		{"smaller", imap.SearchCriteria{Smaller: int64(len(h.served(caseA, s.multipart)))}, []uint32{1, 2, 3, 4, 6}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"invoice"}}, {Body: []string{"promised"}}}}}, []uint32{3, 4, 5}},
		{"seq and uid", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1, 2, 3)}, UID: []imap.UIDSet{imap.UIDSetNum(2, 3, 4)}}, []uint32{2, 3}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"kettle"}}}}, []uint32{2, 3, 4, 5, 6}},
		{"sent before", imap.SearchCriteria{SentBefore: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}, []uint32{1, 2, 3, 5, 6}},
	}
	for _, tc := range cases {
		sd, err := c.Search(&tc.crit, nil).Wait()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := sd.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"invoice"}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllUIDs(), []imap.UID{5}) {
		t.Errorf("UID SEARCH: %v %v", err, sd)
	}
}

func TestUIDsStableAcrossRestart(t *testing.T) {
	h := newHarness(t)
	s := seed(h)
	c := h.client(nil)
	sel, err := c.Select(folderA, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	before := fetchAll(t, c, imap.SeqSetNum(1, 2, 3, 4, 5, 6), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	h.restart()
	c = h.client(nil)
	sel2, err := c.Select(folderA, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel2.UIDValidity != sel.UIDValidity || sel2.UIDNext != sel.UIDNext {
		t.Fatalf("after restart UIDVALIDITY %d UIDNEXT %d, before %d %d", sel2.UIDValidity, sel2.UIDNext, sel.UIDValidity, sel.UIDNext)
	}
	after := fetchAll(t, c, imap.SeqSetNum(1, 2, 3, 4, 5, 6), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for i := range before {
		if before[i].UID != after[i].UID || !bytes.Equal(bodyOf(before[i]), bodyOf(after[i])) {
			t.Errorf("message %d changed over the restart", i+1)
		}
	}
	// New mail gets the next UID; the folder's identity stays.
	h.addMessage(caseA, "consumer", msg("jan@consumer.example", "Any news?", "Any news on my refund?"))
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new message", func() bool {
		c.Noop().Wait()
		return c.Mailbox().NumMessages == 7
	})
	ms := fetchAll(t, c, imap.SeqSetNum(7), &imap.FetchOptions{UID: true, Envelope: true})
	if ms[0].UID != 7 || ms[0].Envelope.Subject != "Any news?" {
		t.Errorf("new message: UID %d subject %q", ms[0].UID, ms[0].Envelope.Subject)
	}
	if st, err := c.Status(folderA, &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true, NumUnseen: true}).Wait(); err != nil ||
		st.UIDValidity != sel.UIDValidity || st.UIDNext != 8 || *st.NumMessages != 7 || *st.NumUnseen != 7 {
		t.Errorf("STATUS: %v %+v", err, st)
	}
	_ = s
}

func TestCaseLifecycle(t *testing.T) {
	h := newHarness(t)
	seed(h)
	var (
		mu        sync.Mutex
		expunged  []uint32
		lastCount uint32
	)
	c := h.client(&imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { mu.Lock(); expunged = append(expunged, seq); mu.Unlock() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				lastCount = *d.NumMessages
				mu.Unlock()
			}
		},
	})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	// The case in state open reaches mediation: its party mail joins INBOX.
	h.setState(caseC, casestore.StateMediation)
	waitFor(t, "the case's mail to join INBOX", func() bool { mu.Lock(); defer mu.Unlock(); return lastCount == 4 })
	// Closing the case: its mail leaves INBOX, its folder moves to Closed/.
	h.setState(caseA, casestore.StateClosed)
	waitFor(t, "three EXPUNGEs from INBOX", func() bool { mu.Lock(); defer mu.Unlock(); return len(expunged) == 3 })
	idle.Close()
	idle.Wait()
	names := listNames(t, c)
	if _, ok := names["Closed/K7Q-4M2P-Acme-Shop-Wholesale"]; !ok {
		t.Errorf("closed case not under Closed/: %v", names)
	}
	if _, ok := names[folderA]; ok {
		t.Errorf("closed case still under Cases/")
	}
	if sel, err := c.Select("Closed/K7Q-4M2P-Acme-Shop-Wholesale", nil).Wait(); err != nil || sel.NumMessages != 6 || sel.UIDNext != 7 {
		t.Errorf("SELECT closed folder: %v %+v", err, sel)
	}
	// After the retention purge the case has no folder any more.
	h.update(func(tx *casestore.Tx) error {
		cs, err := tx.Case(caseB)
		if err != nil {
			return err
		}
		cs.Purged = true
		return tx.PutCase(cs)
	})
	waitFor(t, "the purged case to vanish", func() bool {
		_, ok := listNames(t, c)[folderB]
		return !ok
	})
}

func TestNewMailReachesIdlingClient(t *testing.T) {
	h := newHarness(t)
	seed(h)
	var (
		mu     sync.Mutex
		counts = map[string]uint32{}
	)
	idler := func(folder string) *imapclient.IdleCommand {
		c := h.client(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				counts[folder] = *d.NumMessages
				mu.Unlock()
			}
		}})
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		return idle
	}
	i1, i2 := idler(folderA), idler("INBOX")
	h.addMessage(caseA, "trader", msg("support@acme.example", "Refund sent", "We refunded 49.95 EUR."))
	waitFor(t, "EXISTS in the case folder and INBOX", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[folderA] == 7 && counts["INBOX"] == 4
	})
	i1.Close()
	i2.Close()
}

func TestMalformedMessagesServedWhole(t *testing.T) {
	h := newHarness(t)
	h.addCase(caseA, casestore.StateMediation, "Acme")
	raws := [][]byte{
		[]byte("no header at all, just words\r\nand more words\r\n"),
		[]byte("Subject: header only, no blank line\r\nFrom: a@b.example"),
		[]byte(" leading white space\r\nSubject: x\r\n\r\nbody\r\n"),
		[]byte("Subject: =?utf-8?B?invalid base64?=\r\nFrom: \xff\xfe@\x80\r\nContent-Type: text/plain; charset=\"x-unknown\"\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n"),
		[]byte("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nbroken inner\r\n--b"),
		[]byte("Subject: nul\x00byte\r\n\r\nbody with \x00 nul\r\n"),
		[]byte(""),
		malformedRaw,
	}
	for _, r := range raws {
		h.addMessage(caseA, "trader", r, casestore.FlagMalformed)
	}
	c := h.client(nil)
	if _, err := c.Select("Cases/K7Q-4M2P-Acme", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{}
	all.AddRange(1, uint32(len(raws)))
	ms := fetchAll(t, c, all, &imap.FetchOptions{
		UID: true, Envelope: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Peek: true},
			{Specifier: imap.PartSpecifierHeader, Peek: true},
			{Specifier: imap.PartSpecifierText, Peek: true},
			{Part: []int{1}, Peek: true},
			{Peek: true, Partial: &imap.SectionPartial{Offset: 3, Size: 10}},
		},
	})
	if len(ms) != len(raws) {
		t.Fatalf("fetched %d of %d", len(ms), len(raws))
	}
	for i, m := range ms {
		want := h.served(caseA, raws[i])
		if got := m.BodySection[0].Bytes; !bytes.Equal(got, want) {
			t.Errorf("message %d BODY[] = %q, want %q", i+1, got, want)
		}
		hdr, text := m.BodySection[1].Bytes, m.BodySection[2].Bytes
		if !bytes.HasPrefix(hdr, []byte("Reply-To: <"+h.mediatorAddr(caseA)+">\r\n")) || !bytes.HasSuffix(hdr, []byte("\n\r\n")) && !bytes.HasSuffix(hdr, []byte("\n\n")) {
			t.Errorf("message %d BODY[HEADER] = %q", i+1, hdr)
		}
		if !bytes.HasSuffix(want, text) {
			t.Errorf("message %d BODY[TEXT] = %q is not the end of the message", i+1, text)
		}
		if got := m.BodySection[4].Bytes; !bytes.Equal(got, want[3:13]) {
			t.Errorf("message %d BODY[]<3.10> = %q", i+1, got)
		}
		if m.BodyStructure == nil || m.Envelope == nil {
			t.Errorf("message %d: no BODYSTRUCTURE or ENVELOPE", i+1)
		}
		if len(m.Envelope.ReplyTo) != 1 || m.Envelope.ReplyTo[0].Addr() != h.mediatorAddr(caseA) {
			t.Errorf("message %d: envelope Reply-To %+v", i+1, m.Envelope.ReplyTo)
		}
	}
	if s := ms[7].Envelope.Subject; s != "broken one" {
		t.Errorf("malformed header: subject %q", s)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Errorf("connection unusable after the fetch: %v", err)
	}
}
