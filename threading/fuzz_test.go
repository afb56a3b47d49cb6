package threading

import (
	"bytes"
	"strings"
	"testing"

	"parley/route"
)

func FuzzParseAddress(f *testing.F) {
	k, _ := NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{1}, 32)})
	f.Add(k.PartyLocal("K7Q-4M2P", route.Trader))
	f.Add(k.BounceLocal(12345))
	f.Add("complaints")
	f.Add("b.zzzzzzzzzzzzzz.a0123456789abc")
	f.Add("k7q-4m2p.t.a")
	f.Fuzz(func(t *testing.T, local string) {
		tok, err := k.Parse(local)
		if err != nil || tok.Kind == KindNone {
			return
		}
		// Whatever verifies must be exactly what we mint.
		var minted string
		switch tok.Kind {
		case KindParty:
			minted = k.PartyLocal(tok.CaseID, tok.Role)
		case KindBounce:
			minted = k.BounceLocal(tok.Outbound)
		}
		if !strings.EqualFold(minted, local) {
			t.Fatalf("%q verified as %+v but we mint %q", local, tok, minted)
		}
	})
}

func FuzzStripQuoted(f *testing.F) {
	f.Add("New text\n\nOn Mon, 1 Jan 2026, X <x@y> wrote:\n> old\n")
	f.Add("> a\nb\n> c")
	f.Add("-- \nsig")
	f.Add("\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := StripQuoted(s)
		if strings.TrimSpace(s) != "" && out == "" {
			t.Fatalf("non-empty input %q stripped to nothing", s)
		}
		if len(out) > len(s) {
			t.Fatalf("output longer than input")
		}
	})
}
