package imapd

import (
	"strings"
	"testing"
	"time"

	"parley/casestore"
)

func TestWithReplyTo(t *testing.T) {
	const addr = "k7q-4m2p.m.xyz@disputes.test"
	const rt = "Reply-To: <" + addr + ">\r\n"
	cases := []struct{ name, in, want string }{
		{"no reply-to", "From: a@b\r\nSubject: x\r\n\r\nbody\r\n", rt + "From: a@b\r\nSubject: x\r\n\r\nbody\r\n"},
		{"replaced, folded, any case", "From: a@b\r\nreply-to : x@y,\r\n\tz@w\r\nSubject: s\r\nREPLY-TO: q@r\r\n\r\nReply-To: in the body stays\r\n",
			rt + "From: a@b\r\nSubject: s\r\n\r\nReply-To: in the body stays\r\n"},
		{"header only", "Subject: x\r\nReply-To: a@b", rt + "Subject: x\r\n"},
		{"no header", "\r\nbody\r\n", rt + "\r\nbody\r\n"},
		{"empty", "", rt},
		{"leading white space", " stray\r\nSubject: x\r\n\r\nb", rt + "X-Parley-Warning: the header began with white space\r\n stray\r\nSubject: x\r\n\r\nb"},
		{"similar names kept", "Reply-To-Extra: 1\r\nX-Reply-To: 2\r\n\r\n", rt + "Reply-To-Extra: 1\r\nX-Reply-To: 2\r\n\r\n"},
	}
	for _, tc := range cases {
		got := string(withReplyTo([]byte(tc.in), addr))
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if again := string(withReplyTo([]byte(tc.in), addr)); again != got {
			t.Errorf("%s: not deterministic", tc.name)
		}
	}
}

func TestFilterHeader(t *testing.T) {
	hdr := []byte("Reply-To: <a@b>\r\nSubject: one\r\n two\r\nFrom: x@y\r\nbroken line\r\n\r\n")
	if got := string(filterHeader(hdr, []string{"subject"}, nil)); got != "Subject: one\r\n two\r\n\r\n" {
		t.Errorf("HEADER.FIELDS (subject) = %q", got)
	}
	if got := string(filterHeader(hdr, nil, []string{"SUBJECT", "reply-to"})); got != "From: x@y\r\n\r\n" {
		t.Errorf("HEADER.FIELDS.NOT = %q", got)
	}
}

func TestCaseLabel(t *testing.T) {
	cases := map[string]string{
		"Acme Shop":                   "Acme-Shop",
		"Acme/Shop\\B.V.":             "Acme-Shop-B.V.",
		"  100%  *Deals*  \"Quoted\"": "100-Deals-Quoted",
		"Tab\tand\nnewline\x00nul":    "Tab-and-newline-nul",
		"Ünïcode Café":                "Ünïcode-Café",
		"bad \xff utf8":               "bad-utf8",
		strings.Repeat("x", 100):      strings.Repeat("x", maxLabel),
	}
	for in, want := range cases {
		if got := caseLabel(&casestore.Case{Trader: casestore.Party{Name: in}}); got != want {
			t.Errorf("caseLabel(%q) = %q, want %q", in, got, want)
		}
	}
	if got := caseLabel(&casestore.Case{Title: "Broken kettle"}); got != "Broken-kettle" {
		t.Errorf("label without trader name = %q", got)
	}
	mc := casestore.MailCase{ID: "K7Q-4M2P", Label: "Acme"}
	if folderName(mc) != "Cases/K7Q-4M2P-Acme" {
		t.Errorf("folder name %q", folderName(mc))
	}
	mc.Closed, mc.Label = true, ""
	if folderName(mc) != "Closed/K7Q-4M2P" {
		t.Errorf("closed folder name %q", folderName(mc))
	}
}

func TestNoteMessageIsStable(t *testing.T) {
	ev := &casestore.Event{Seq: 7, Time: time.Date(2026, 11, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600)), Kind: casestore.EvNote, Role: "mediator",
		Text: "Line one\nLine two with a very long text that goes on and on and on and on and on and on and on and on and on to be wrapped\r\nÜmlaut"}
	a := noteMessage("K7Q-4M2P", ev, "k7q-4m2p.m.x@disputes.test")
	b := noteMessage("K7Q-4M2P", ev, "k7q-4m2p.m.x@disputes.test")
	if string(a) != string(b) {
		t.Fatal("note message not deterministic")
	}
	c := newContent(withReplyTo(a, "k7q-4m2p.m.x@disputes.test"), ev.Time)
	env := c.envelope()
	if env.Subject != "[K7Q-4M2P] Internal note" || env.MessageID != "note.7.k7q-4m2p@disputes.test" || !env.Date.Equal(ev.Time) {
		t.Errorf("note envelope %+v", env)
	}
	for _, line := range strings.Split(string(a), "\r\n") {
		if len(line) > 78 {
			t.Errorf("note line longer than 78 characters: %q", line)
		}
	}
}
