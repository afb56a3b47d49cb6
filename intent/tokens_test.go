package intent

import (
	"strings"
	"testing"
)

var tokenSamples = []string{
	"", "   ", "n'accepte pas", "don't", "l’offre", "''", "'a'", "ÉCOLE d'été", "İstanbul", "a\xffb", "12,50 EUR",
	"Ik ga niet akkoord met het voorstel", "καλησπέρα; ναι", "d'", "qu'il", "x'y'z",
}

// countTokens must count exactly the words tokens lists: Read uses it for the
// clauses it does not match, and the count decides whether a reply says more.
func TestCountTokensAgrees(t *testing.T) {
	for _, s := range tokenSamples {
		if got, want := countTokens(s), len(tokens(s)); got != want {
			t.Errorf("countTokens(%q) = %d, tokens has %d: %q", s, got, want, tokens(s))
		}
	}
}

func FuzzCountTokens(f *testing.F) {
	for _, s := range tokenSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := countTokens(s), len(tokens(s)); got != want {
			t.Fatalf("countTokens(%q) = %d, tokens has %d: %q", s, got, want, tokens(s))
		}
	})
}

// A long reply: the opening is matched, the rest only counted.
func BenchmarkReadLongReply(b *testing.B) {
	r := NewReader(nil)
	text := "Thank you for your message.\nWe looked into the order again.\n" +
		strings.Repeat("The parcel left our warehouse on the third and the carrier confirmed the delivery. ", 60)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		r.Read(text, "nl")
	}
}
