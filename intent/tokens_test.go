package intent

import (
	"slices"
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

// clausesByRune is clauses as first written, a rune at a time: the byte
// scan must split every text the same way.
func clausesByRune(text, lang string) []clause {
	var out []clause
	start := 0
	for i, r := range text {
		switch r {
		case '.', '!', '?', ';', ',', '\n', ':', '(', ')', '¿', '¡', '\u037e':
			if strings.TrimSpace(text[start:i]) != "" {
				q := r == '?' || r == '\u037e' || (r == ';' && lang == "el")
				out = append(out, clause{text: text[start:i], start: start, question: q})
			}
			start = i + len(string(r))
		}
	}
	if strings.TrimSpace(text[start:]) != "" {
		out = append(out, clause{text: text[start:], start: start})
	}
	return out
}

var clauseSamples = []string{
	"¿Aceptáis? ¡Sí! vale.", "καλησπέρα; ναι\u037e όχι", "a\xffb.\xc2", "(one), two: three\nfour", "...", "x¿y¡z",
	"Ik ga niet akkoord.\r\nMet vriendelijke groet", "\xc2\xbf\xcd\xbe\xc2\xa1",
}

func TestClausesAgree(t *testing.T) {
	for _, s := range clauseSamples {
		for _, lang := range []string{"el", "es"} {
			if got, want := slices.Collect(clauses(s, lang)), clausesByRune(s, lang); !slices.Equal(got, want) {
				t.Errorf("clauses(%q, %s) = %+v, want %+v", s, lang, got, want)
			}
		}
	}
}

func FuzzClauses(f *testing.F) {
	for _, s := range clauseSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := slices.Collect(clauses(s, "el")), clausesByRune(s, "el"); !slices.Equal(got, want) {
			t.Fatalf("clauses(%q) = %+v, want %+v", s, got, want)
		}
	})
}
