package procedure

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"parley/locales"
)

// wordLists are the word lists intake matches in running text, with the tail
// each is read with, and the regular expression the matcher stands in for.
func wordLists(t testing.TB) map[string]struct {
	words []string
	tail  wordTail
} {
	loc, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	labels := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, loc.Labels(id)...)
		}
		return out
	}
	return map[string]struct {
		words []string
		tail  wordTail
	}{
		"ordered":    {labels("LabelOrderRef", "LabelOrderDate", "WordsOrdered"), tailNone},
		"complained": {labels("LabelComplainedOn", "WordsComplained"), tailNone},
		"refund":     {labels("WantRefund"), tailLetters},
		"repair":     {labels("WantRepair"), tailLetters},
		"yes":        {labels("WordYes"), tailBoundary},
		"tricky":     {[]string{"k", "kk", "s", "ß", "straße", "n.º", "a b", "ǆ", "ι", "x-y", "k.", "ok"}, tailBoundary},
		"tricky-end": {[]string{"k", "kk", "s", "ß", "straße", "n.º", "a b", "ǆ", "ι", "x-y", "k.", "ok"}, tailLetters},
	}
}

func regexpFor(words []string, tail wordTail) *regexp.Regexp {
	t := map[wordTail]string{tailNone: "", tailBoundary: `(?:[^\pL]|$)`, tailLetters: `\pL*`}[tail]
	return regexp.MustCompile(`(?i)(?:^|[^\pL])(?:` + alternation(words) + `)` + t)
}

// pieces a random text is made of: words cut and whole in other cases,
// separators, letters that fold oddly (Kelvin sign, long s, ǅ, U+0345) and a
// byte that is not UTF-8.
func randomText(rng *rand.Rand, words []string) string {
	var b strings.Builder
	for range rng.IntN(12) {
		switch rng.IntN(6) {
		case 0, 1:
			w := words[rng.IntN(len(words))]
			switch rng.IntN(5) {
			case 0:
				w = strings.ToUpper(w)
			case 1:
				w = strings.NewReplacer("k", "\u212a", "s", "\u017f").Replace(w)
			case 2:
				w = w[:rng.IntN(len(w)+1)]
			}
			b.WriteString(w)
		case 2:
			b.WriteString([]string{" ", ".", "\n", "'", "’", "-", "1", ", ", "\t"}[rng.IntN(9)])
		case 3:
			b.WriteString([]string{"x", "é", "ß", "ǅ", "\u0345", "\xff", "K", "ed", "s", "ι"}[rng.IntN(10)])
		default:
			b.WriteString(" ")
			b.WriteString(words[rng.IntN(len(words))])
		}
	}
	return b.String()
}

func TestWordMatcherAgrees(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for name, l := range wordLists(t) {
		m, re := newWordMatcher(l.words, l.tail), regexpFor(l.words, l.tail)
		found := 0
		for i := 0; i < 500; i++ {
			s := randomText(rng, l.words)
			n := []int{-1, 1, 5}[i%3]
			got, want := m.findAll(s, n), re.FindAllStringIndex(s, n)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: findAll(%q, %d) = %v, the regexp %v", name, s, n, got, want)
			}
			found += len(got)
		}
		if found < 150 {
			t.Errorf("%s: only %d matches in 500 texts: the texts do not try the matcher", name, found)
		}
	}
}

func TestWordMatcherReadsInflection(t *testing.T) {
	m := newWordMatcher([]string{"zwrot", "refund"}, tailLetters)
	s := "Proszę o zwrotu pieniędzy. REFUNDS? no-refund"
	var got []string
	for _, r := range m.findAll(s, -1) {
		got = append(got, s[r[0]:r[1]])
	}
	if want := []string{" zwrotu", " REFUNDS", "-refund"}; !reflect.DeepEqual(got, want) {
		t.Errorf("matches %q, want %q", got, want)
	}
}

func FuzzWordMatcher(f *testing.F) {
	for _, s := range []string{"I ordered on 3 October", "\u212a\u017f order", "ß\u0345refund", "\xffkk k.", "zwrotu"} {
		f.Add(s)
	}
	lists := wordLists(f)
	type pair struct {
		m  *wordMatcher
		re *regexp.Regexp
	}
	var pairs []pair
	for _, l := range lists {
		pairs = append(pairs, pair{newWordMatcher(l.words, l.tail), regexpFor(l.words, l.tail)})
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range pairs {
			if got, want := p.m.findAll(s, -1), p.re.FindAllStringIndex(s, -1); !reflect.DeepEqual(got, want) {
				t.Fatalf("findAll(%q) = %v, the regexp %v", s, got, want)
			}
		}
	})
}

// englishReader is intake's reader of complaints with the English bundle.
func englishReader(tb testing.TB) (*reader, *locales.Bundle) {
	tb.Helper()
	loc, err := locales.New("en")
	if err != nil {
		tb.Fatal(err)
	}
	return newReader(loc), loc
}

// TestLabelLinesAgree checks reading labelled lines line by line (colon
// lines only) against the label patterns run over the whole text.
func TestLabelLinesAgree(t *testing.T) {
	t.Parallel()
	r, loc := englishReader(t)
	var labels []string
	for _, id := range fieldLabels {
		labels = append(labels, loc.Labels(id)...)
	}
	oldValue := func(id, text string) string {
		for _, m := range r.labels[id].FindAllStringSubmatch(text, 5) {
			if v := strings.TrimSpace(hintRe.ReplaceAllString(m[1], "")); v != "" {
				return v
			}
		}
		return ""
	}
	oldWithout := func(text string) string {
		for _, id := range fieldLabels {
			if id != "LabelProblem" {
				text = r.labels[id].ReplaceAllString(text, "")
			}
		}
		return strings.TrimSpace(text)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	values := 0
	for i := 0; i < 400; i++ {
		var b strings.Builder
		for range rng.IntN(8) {
			l := labels[rng.IntN(len(labels))]
			switch rng.IntN(7) {
			case 0:
				b.WriteString(l + ": value " + l)
			case 1:
				b.WriteString("> * " + strings.ToUpper(l) + " *:  (for example 12)  ")
			case 2:
				b.WriteString(l + ":")
			case 3:
				b.WriteString("words: " + l + ": more")
			case 4:
				b.WriteString("plain words " + l)
			case 5:
				b.WriteString(l + ": x\r")
			}
			b.WriteString([]string{"\n", "\n\n", ":", ""}[rng.IntN(4)])
		}
		text := b.String()
		for _, id := range fieldLabels {
			if got, want := r.value(id, text), oldValue(id, text); got != want {
				t.Fatalf("value(%s, %q) = %q, over the whole text %q", id, text, got, want)
			} else if got != "" {
				values++
			}
		}
		if got, want := r.withoutLabelled(text), oldWithout(text); got != want {
			t.Fatalf("withoutLabelled(%q) = %q, over the whole text %q", text, got, want)
		}
		if got, want := withoutLines(text, r.labels["LabelProblem"]), r.labels["LabelProblem"].ReplaceAllString(text, ""); got != want {
			t.Fatalf("withoutLines(%q) = %q, over the whole text %q", text, got, want)
		}
	}
	if values < 130 {
		t.Errorf("only %d values read: the texts do not try the reader", values)
	}
}

// wholeOrderRef is orderRef as a regexp over the whole text reads it: the
// reference the project read before orderRef, and the one it is held to.
func wholeOrderRef(freeRef *regexp.Regexp, text string) string {
	for _, m := range freeRef.FindAllStringSubmatch(text, 5) {
		if ref, ok := refWithDigit(m[1]); ok {
			return ref
		}
	}
	return ""
}

func freeRefRegexp(loc *locales.Bundle) *regexp.Regexp {
	return regexp.MustCompile(`(?i)(?:^|[^\pL])` + orderRefPattern(loc))
}

// TestOrderRefAgrees checks the order reference read from the first order
// word on against the whole-text regexp.
func TestOrderRefAgrees(t *testing.T) {
	t.Parallel()
	r, loc := englishReader(t)
	for _, w := range loc.Labels("LabelOrderRef") {
		if first, _ := utf8.DecodeRuneInString(w); !unicode.IsLetter(first) {
			t.Fatalf("order word %q does not start with a letter: the window in orderRef would read it wrong", w)
		}
	}
	freeRef := freeRefRegexp(loc)
	words := []string{"nr.", "#", "A-4711", "12/7", "no", ":", "x", "ß", " 4711", "-"}
	for _, w := range loc.Labels("LabelOrderRef") {
		words = append(words, w, w+" 4711", w+" nr. A-7/1", w+": 12")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	refs := 0
	for i := 0; i < 1000; i++ {
		text := randomText(rng, words)
		got, want := r.orderRef(text), wholeOrderRef(freeRef, text)
		if got != want {
			t.Fatalf("orderRef(%q) = %q, over the whole text %q", text, got, want)
		}
		if got != "" {
			refs++
		}
	}
	if refs < 100 {
		t.Errorf("only %d references read: the texts do not try the reader", refs)
	}
}

func FuzzOrderRef(f *testing.F) {
	for _, s := range []string{"order 4711", "Order’order 12", "ordernr 5 order 6", "bestelling nr. A-77", "é order # 9"} {
		f.Add(s)
	}
	r, loc := englishReader(f)
	freeRef := freeRefRegexp(loc)
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := r.orderRef(text), wholeOrderRef(freeRef, text); got != want {
			t.Fatalf("orderRef(%q) = %q, over the whole text %q", text, got, want)
		}
	})
}
