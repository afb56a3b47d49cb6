// Package intent reads what a party means by a reply written as people
// write: a choice ("Bemiddeling graag, 20% korting is niet genoeg"), an
// answer to a proposal ("Yes, I accept this proposal, thank you"), a refusal
// ("niet akkoord"), or taking a choice back, in any supported language.
//
// The words come from the locale files (Intent* and Negation): stems that
// match the start of a word ("bemiddel" matches bemiddeling, bemiddelaar),
// and phrases of several words. A match with a negation near it in the same
// clause does not count as that intent ("not resolved", "nicht erledigt");
// a negated acceptance is a rejection ("niet akkoord", "I don't accept").
// Only the opening of a reply is read for intent, where people answer a
// question; a word further down is taken as what it is, part of a message.
package intent

import (
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is an intent.
type Kind string

const (
	Resolved  Kind = "resolved"
	Mediation Kind = "mediation"
	Wait      Kind = "wait"
	Withdraw  Kind = "withdraw"
	Accept    Kind = "accept"
	Reject    Kind = "reject"
	Undo      Kind = "undo"
)

// Kinds lists every intent with the locale message id of its words.
var Kinds = []struct {
	Kind Kind
	ID   string
}{{Resolved, "IntentResolved"}, {Mediation, "IntentMediation"}, {Wait, "IntentWait"}, {Withdraw, "IntentWithdraw"},
	{Accept, "IntentAccept"}, {Reject, "IntentReject"}, {Undo, "IntentUndo"}}

// Words is what a language says for each intent, and its negations, as the
// locale file lists them ("stem|phrase of words|...").
type Words struct {
	Intents   map[Kind]string
	Negations string
	// Keywords are the one-word answers a notice offers (RESOLVED, BEMIDDELING):
	// a reply that is only such a word means it, in any language.
	Keywords map[Kind]string
}

// Reader reads replies. It is immutable and safe for concurrent use.
type Reader struct {
	langs    map[string]*vocab
	keywords map[string]Kind // upper-case keyword -> intent, every language
}

type vocab struct {
	phrases map[Kind][][]string // tokens; the last one matches as a prefix
	neg     map[string]bool
}

// NewReader builds a reader from each language's words.
func NewReader(words map[string]Words) *Reader {
	r := &Reader{langs: map[string]*vocab{}, keywords: map[string]Kind{}}
	for lang, w := range words {
		v := &vocab{phrases: map[Kind][][]string{}, neg: map[string]bool{}}
		for kind, list := range w.Intents {
			for _, p := range strings.Split(list, "|") {
				if toks := tokens(p); len(toks) > 0 {
					v.phrases[kind] = append(v.phrases[kind], toks)
				}
			}
		}
		for _, n := range strings.Split(w.Negations, "|") {
			if n = strings.TrimSpace(strings.ToLower(n)); n != "" {
				v.neg[n] = true
			}
		}
		r.langs[lang] = v
		for kind, list := range w.Keywords {
			for _, k := range strings.Split(list, "|") {
				if k = strings.ToUpper(strings.TrimSpace(k)); k != "" {
					r.keywords[k] = kind
				}
			}
		}
	}
	return r
}

// Reading is what a reply says.
type Reading struct {
	// Intents are the intents found in the opening, in order, each once.
	Intents []Kind
	// Keyword is set when the reply's first line is only a keyword.
	Keyword bool
	// More reports whether the reply says more than its intent (beyond
	// greetings and thanks): that text goes where it belongs.
	More bool
	// Negated are intents named and denied ("it is not resolved"): an
	// answer to the question, though not a choice.
	Negated []Kind
	// Words counts the words of the clauses that state no intent, beyond
	// greetings and thanks. Past the opening, counting stops once it
	// reaches WordsEnough: a long message need not be read to the end to
	// know it is one.
	Words int
}

// One returns the single intent of a reading among allowed; ok is false when
// there is none or more than one.
func (rd Reading) One(allowed ...Kind) (Kind, bool) {
	var found []Kind
	for _, k := range rd.Intents {
		for _, a := range allowed {
			if k == a {
				found = append(found, k)
			}
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

// opening bounds the part of a reply read for intent.
const (
	openingClauses = 4
	openingBytes   = 400
	// negationReach is how many words before or after a match a negation
	// still applies to it.
	negationReach = 4
	// courtesy is the most words a clause without intent may have and still
	// count as greeting or thanks rather than a message.
	courtesy = 3
	// WordsEnough is where Reading.Words stops counting.
	WordsEnough = 100
)

// Read reads text written in lang (its own words, quoted history removed).
// English words are understood from every writer, as are every language's
// keywords.
func (r *Reader) Read(text, lang string) Reading {
	var rd Reading
	text = strings.TrimSpace(text)
	if text == "" {
		return rd
	}
	first, _, _ := strings.Cut(text, "\n")
	if k, ok := r.keywords[strings.ToUpper(strings.Trim(strings.TrimSpace(first), ".!*\"' "))]; ok {
		rd.Intents, rd.Keyword = []Kind{k}, true
		rest := strings.TrimSpace(strings.TrimPrefix(text, first))
		rd.More = len(tokens(rest)) > courtesy
		return rd
	}
	vocabs := []*vocab{r.langs[lang]}
	if lang != "en" {
		vocabs = append(vocabs, r.langs["en"])
	}
	seen := map[Kind]bool{}
	words := 0
	i := -1
	for c := range clauses(text, lang) {
		i++
		pastOpening := i >= openingClauses || c.start >= openingBytes
		if pastOpening && words >= WordsEnough {
			break
		}
		// A question ("Resolved?") states no intent, nor does a clause past
		// the opening: those only add to the count of words, which needs no
		// list of them (a long message is mostly such clauses).
		if pastOpening || c.question {
			if n := countTokens(c.text); n > courtesy {
				words += n
			}
			continue
		}
		toks := tokens(c.text)
		if len(toks) == 0 {
			continue
		}
		here, denied := match(toks, vocabs)
		rd.Negated = append(rd.Negated, denied...)
		for _, k := range here {
			if !seen[k] {
				seen[k] = true
				rd.Intents = append(rd.Intents, k)
			}
		}
		if len(here) == 0 && len(toks) > courtesy {
			words += len(toks)
		}
	}
	rd.More, rd.Words = words > 0, words
	return rd
}

// match finds the intents of one clause: each phrase that matches and is not
// negated; a negated acceptance is a rejection. denied are the others that
// were negated.
func match(toks []string, vocabs []*vocab) (out, denied []Kind) {
	add := func(k Kind) {
		for _, x := range out {
			if x == k {
				return
			}
		}
		out = append(out, k)
	}
	for _, v := range vocabs {
		if v == nil {
			continue
		}
		for _, kd := range Kinds {
			for _, p := range v.phrases[kd.Kind] {
				for i := 0; i+len(p) <= len(toks); i++ {
					if !phraseAt(toks, i, p) {
						continue
					}
					negated := negatedAt(toks, i, i+len(p), v, vocabs[0])
					switch {
					case !negated:
						add(kd.Kind)
					case kd.Kind == Accept:
						add(Reject)
					default:
						denied = append(denied, kd.Kind)
					}
				}
			}
		}
	}
	// "not acceptable" read both as a negated acceptance (a rejection) and
	// nothing else; a rejection phrase that itself carries the negation
	// ("niet akkoord") is a rejection too.
	return out, denied
}

func phraseAt(toks []string, i int, p []string) bool {
	for j, w := range p {
		t := toks[i+j]
		if j == len(p)-1 {
			if !strings.HasPrefix(t, w) {
				return false
			}
		} else if t != w {
			return false
		}
	}
	return true
}

// negatedAt: a negation within reach before the phrase [i, end), or just
// after it ("erledigt ist es nicht"), in the same clause, in the phrase's
// language or the writer's: English "no" must not negate Portuguese "no
// site", but Danish "ikke" negates English "accept" in "accepterer ikke".
func negatedAt(toks []string, i, end int, v, writer *vocab) bool {
	isNeg := func(t string) bool {
		return strings.HasSuffix(t, "n't") || v.neg[t] || (writer != nil && writer.neg[t])
	}
	// A phrase that contains its own negation ("not acceptable" listed as a
	// rejection) is not negated by it.
	for j := max(0, i-negationReach); j < i; j++ {
		if isNeg(toks[j]) {
			return true
		}
	}
	for j := end; j < min(len(toks), end+negationReach); j++ {
		if isNeg(toks[j]) {
			return true
		}
	}
	return false
}

type clause struct {
	text     string
	start    int
	question bool // ends in a question mark
}

// clauses splits text at sentence ends, commas, semicolons and lines. Greek
// ends a question with ';' (or U+037E). They come one at a time: a reader
// that has seen enough stops the split.
func clauses(text, lang string) iter.Seq[clause] {
	return func(yield func(clause) bool) {
		splitClauses(text, lang, yield)
	}
}

func splitClauses(text, lang string, yield func(clause) bool) {
	start := 0
	for i := 0; i < len(text); {
		// ASCII bytes are looked up, only the rest decoded: a long message
		// is mostly bytes that end nothing.
		r, size := rune(text[i]), 1
		if r < utf8.RuneSelf {
			if !endsClauseASCII(text[i]) {
				i++
				continue
			}
		} else if r, size = utf8.DecodeRuneInString(text[i:]); r != '¿' && r != '¡' && r != '\u037e' {
			i += size
			continue
		}
		if strings.TrimSpace(text[start:i]) != "" {
			q := r == '?' || r == '\u037e' || (r == ';' && lang == "el")
			if !yield(clause{text: text[start:i], start: start, question: q}) {
				return
			}
		}
		i += size
		start = i
	}
	if strings.TrimSpace(text[start:]) != "" {
		yield(clause{text: text[start:], start: start})
	}
}

// clauseEnds has bit c set for each ASCII byte c that ends a clause (all
// below 64).
const clauseEnds uint64 = 1<<'.' | 1<<'!' | 1<<'?' | 1<<';' | 1<<',' | 1<<'\n' | 1<<':' | 1<<'(' | 1<<')'

func endsClauseASCII(c byte) bool { return c < 64 && clauseEnds>>c&1 != 0 }

// tokens are the lower-case words of s. An elided article or particle
// ("n'", "d'", "l'") is a word of its own, so "n'accepte" reads as "n'"
// and "accepte"; "don't" stays one word.
func tokens(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), notWordRune) {
		a, b := fieldTokens(f)
		if a != "" {
			out = append(out, a)
		}
		if b != "" {
			out = append(out, b)
		}
	}
	return out
}

// countTokens is len(tokens(s)) without making the list.
func countTokens(s string) int {
	n := 0
	add := func(f string) {
		a, b := fieldTokens(f)
		if a != "" {
			n++
		}
		if b != "" {
			n++
		}
	}
	if isASCII(s) {
		// Lower-casing changes no ASCII byte's class, and ASCII has no ’.
		for i := 0; i < len(s); {
			for i < len(s) && !asciiWord(s[i]) {
				i++
			}
			j, apostrophe := i, false
			for j < len(s) && asciiWord(s[j]) {
				apostrophe = apostrophe || s[j] == '\''
				j++
			}
			switch {
			case j > i && !apostrophe:
				n++ // a plain word is one token
			case j > i:
				add(s[i:j])
			}
			i = j
		}
		return n
	}
	s = strings.ToLower(s)
	for {
		i := strings.IndexFunc(s, isWordRune)
		if i < 0 {
			return n
		}
		s = s[i:]
		j := strings.IndexFunc(s, notWordRune)
		if j < 0 {
			j = len(s)
		}
		add(s[:j])
		s = s[j:]
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '\''
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’'
}
func notWordRune(r rune) bool { return !isWordRune(r) }

// fieldTokens splits one run of word characters into its words: none (only
// apostrophes), one, or an elided particle and the word after it.
func fieldTokens(f string) (string, string) {
	f = strings.ReplaceAll(f, "’", "'")
	f = strings.Trim(f, "'")
	if i := strings.IndexByte(f, '\''); i > 0 && i <= 2 && i < len(f)-1 {
		return f[:i+1], f[i+1:]
	}
	return f, ""
}

// Bundle is what WordsFrom needs of the locales.
type Bundle interface {
	Languages() []string
	Has(lang, id string) bool
	T(lang, id string, data any) string
}

// keywordIDs are the locale ids of the one-word answers per intent.
var keywordIDs = map[Kind]string{Resolved: "KeywordResolved", Mediation: "KeywordMediation", Wait: "KeywordWait",
	Withdraw: "KeywordWithdraw", Accept: "KeywordAccept", Reject: "KeywordReject", Undo: "KeywordUndo"}

// WordsFrom collects every language's intent words from the locale files.
func WordsFrom(b Bundle) map[string]Words {
	out := map[string]Words{}
	for _, lang := range b.Languages() {
		w := Words{Intents: map[Kind]string{}, Keywords: map[Kind]string{}}
		for _, k := range Kinds {
			if b.Has(lang, k.ID) {
				w.Intents[k.Kind] = b.T(lang, k.ID, nil)
			}
			if id := keywordIDs[k.Kind]; b.Has(lang, id) {
				w.Keywords[k.Kind] = b.T(lang, id, nil)
			}
		}
		if b.Has(lang, "Negation") {
			w.Negations = b.T(lang, "Negation", nil)
		}
		out[lang] = w
	}
	return out
}
