package imapd

import (
	"strings"
	"testing"

	"parley/casestore"
)

// SEARCH FROM, TO and CC match the parsed addresses (display name, mailbox,
// domain), ignoring case (RFC 3501 section 6.4.4: "the envelope structure's
// FROM field"), also where the raw header text differs: a name folded over
// two lines or spaced out, a name in quotes with quoted pairs, a name in
// encoded words.
func TestSearchAddresses(t *testing.T) {
	h := newHarness(t)
	h.addCase(caseA, casestore.StateMediation, "Acme")
	header := func(extra ...string) []byte {
		return []byte(strings.Join(extra, "\r\n") + "\r\nSubject: s\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n")
	}
	h.addMessage(caseA, "consumer", header("From: Anouk Bakker <anouk@x.example>", "To: Acme Support <support@acme.example>",
		`Cc: "Jansen, Piet" <piet@jansen.example>, mia@mediators.example`))
	h.addMessage(caseA, "consumer", header("From: Anouk\r\n  Bakker <anouk@x.example>", "To: support@acme.example"))
	h.addMessage(caseA, "trader", header(`From: "Support \"Acme\"   Team" <help@acme.example>`, "To: =?utf-8?q?Ren=C3=A9e?= =?utf-8?q?_de_Vries?= <renee@y.example>"))
	h.addMessage(caseA, "trader", header("From: =?utf-8?b?QW5vdWsgQmFra2Vy?= <a.bakker@x.example>", "To: jan@consumer.example"))
	h.addMessage(caseA, "consumer", header("From: Anouk   Bakker <anouk@z.example>", "To: support@acme.example"))
	c := h.raw(testUser, testPassword)
	c.ok("SELECT \"Cases/K7Q-4M2P-Acme\"")
	for _, tc := range []struct{ search, want string }{
		{"FROM anouk", "1 2 4 5"},
		{"FROM bakker", "1 2 4 5"},
		{"FROM BAKKER", "1 2 4 5"},
		{"FROM x.example", "1 2 4"},
		{"FROM anouk@x.example", "1 2"},
		{`FROM "anouk bakker"`, "1 2 4 5"},
		{`FROM "Anouk Bakker <anouk@z.example>"`, "5"},
		{`FROM "support \"acme\" team"`, "3"},
		{"FROM acme.example", "3"},
		{"TO acme", "1 2 5"},
		{"TO support", "1 2 5"},
		{`TO "renée de vries"`, "3"},
		{"TO y.example", "3"},
		{"CC piet", "1"},
		{"CC jansen", "1"},
		{"CC mediators.example", "1"},
		{"CC anouk", ""},
		{"FROM nobody", ""},
		{"TO anouk", ""},
		{"HEADER FROM anouk", "1 2 4 5"},
		{"OR FROM piet CC piet", "1"},
		{"NOT FROM bakker", "3"},
	} {
		u, status := c.cmd("%s", "SEARCH CHARSET UTF-8 "+tc.search)
		want := strings.TrimSpace("* SEARCH " + tc.want)
		if got := find(u, "* SEARCH"); !strings.HasPrefix(status, "OK") || got != want {
			t.Errorf("SEARCH %s = %q %s, want %q", tc.search, got, status, want)
		}
	}
}
