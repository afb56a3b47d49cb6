package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// SEARCH FROM, TO, CC and BCC match "the envelope structure's FROM field"
// (RFC 3501 section 6.4.4): the parsed addresses, not only the header's raw
// text. So FROM bakker finds `"Bakker, Anouk" <anouk@x.example>` and
// `=?utf-8?q?Anouk_Bakker?= <anouk@x.example>`, and FROM "anouk bakker" finds
// a name folded over two lines or spaced out. go-imap hands FROM and HEADER FROM over
// alike; both match the raw text too (search.go), so HEADER keeps its
// substring meaning. Matching ignores case (RFC 3501 section 6.4.4).

// matchAddresses reports whether an address of the message's key field
// (From, Sender, Reply-To, To, Cc, Bcc) holds pattern in its display name,
// mailbox, domain or whole address.
func matchAddresses(c *content, key, pattern string) bool {
	addrs := envelopeField(c.envelope(), key)
	if len(addrs) == 0 {
		return false
	}
	p := fold(pattern)
	for _, a := range addrs {
		for _, s := range []string{a.Name, a.Mailbox, a.Host, a.Addr(), a.Name + " <" + a.Addr() + ">"} {
			if s != "" && strings.Contains(fold(s), p) {
				return true
			}
		}
	}
	return false
}

// fold lower-cases s and turns each run of white space into one space, so
// "Anouk  Bakker" in a header and "anouk bakker" in a search meet.
func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// envelopeField returns the envelope's addresses for a header field name.
func envelopeField(env *imap.Envelope, key string) []imap.Address {
	if env == nil {
		return nil
	}
	switch strings.ToLower(key) {
	case "from":
		return env.From
	case "sender":
		return env.Sender
	case "reply-to":
		return env.ReplyTo
	case "to":
		return env.To
	case "cc":
		return env.Cc
	case "bcc":
		return env.Bcc
	}
	return nil
}
