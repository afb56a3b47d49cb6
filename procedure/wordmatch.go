package procedure

import (
	"unicode"
	"unicode/utf8"
)

// wordMatcher finds words of a list in running text, as the regular
// expression (?i)(?:^|[^\pL])(?:w1|w2|...)TAIL would, match for match, where
// TAIL is nothing (a word's beginning: "order" in "ordered"), (?:[^\pL]|$)
// (a whole word) or \pL* (a word and its inflection: "zwrotu" for "zwrot").
// The words of 26 languages make an alternation of hundreds of branches that
// the regexp package runs at every byte of the text; a complaint of a
// kilobyte took tens of milliseconds. This walks a trie of the case-folded
// words from the start of each word of the text instead.
type wordMatcher struct {
	root trieNode
	tail wordTail
}

type wordTail int

const (
	tailNone     wordTail = iota // the match ends with the word
	tailBoundary                 // a non-letter after the word (taken into the match) or the end of the text
	tailLetters                  // the letters after the word join the match
)

type trieNode struct {
	next map[rune]*trieNode
	// rank is the word's place in the alternation plus one (0: no word
	// ends here); of the words that match at one place, the regexp takes
	// the first in the alternation whose tail matches too.
	rank int
}

// newWordMatcher makes a matcher for words in the order alternation gives them.
func newWordMatcher(words []string, tail wordTail) *wordMatcher {
	m := &wordMatcher{tail: tail}
	for i, w := range alternationOrder(words) {
		if w == "" {
			continue // a label list has no empty word; as a branch it would match at every boundary
		}
		n := &m.root
		for _, r := range w {
			r = foldRune(r)
			if n.next == nil {
				n.next = map[rune]*trieNode{}
			}
			c := n.next[r]
			if c == nil {
				c = &trieNode{}
				n.next[r] = c
			}
			n = c
		}
		if n.rank == 0 { // the same word twice: the first counts
			n.rank = i + 1
		}
	}
	return m
}

// foldRune is the smallest rune that (?i) matching treats as equal to r:
// every rune of one simple case folding orbit (k, K and the Kelvin sign K)
// gets the same one.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if r != 'k' && r != 's' {
			return r // the only ASCII letters with a non-ASCII fold: K (Kelvin sign), ſ (long s)
		}
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// findAll returns the byte ranges of up to n successive matches (all if n <
// 0), as regexp's FindAllStringIndex does.
func (m *wordMatcher) findAll(s string, n int) [][]int {
	var out [][]int
	for at := 0; at <= len(s) && (n < 0 || len(out) < n); {
		start, end, ok := m.next(s, at)
		if !ok {
			break
		}
		out = append(out, []int{start, end})
		at = end
	}
	return out
}

// next is the leftmost match that starts at or after at.
func (m *wordMatcher) next(s string, at int) (start, end int, ok bool) {
	if at == 0 {
		// The ^ branch comes first in (?:^|[^\pL]).
		if end, ok := m.wordAt(s, 0); ok {
			return 0, end, true
		}
	}
	for q := at; q < len(s); {
		r, size := utf8.DecodeRuneInString(s[q:])
		if !isFoldLetter(r) {
			if end, ok := m.wordAt(s, q+size); ok {
				return q, end, true
			}
		}
		q += size
	}
	return 0, 0, false
}

// wordAt is the end of the match of a word that starts at p, with its tail.
func (m *wordMatcher) wordAt(s string, p int) (end int, ok bool) {
	best := 0
	n := &m.root
	for q := p; n.next != nil && q < len(s); {
		r, size := utf8.DecodeRuneInString(s[q:])
		if n = n.next[foldRune(r)]; n == nil {
			break
		}
		q += size
		if n.rank != 0 && (best == 0 || n.rank < best) {
			if e, ok := m.tailAt(s, q); ok {
				best, end = n.rank, e
			}
		}
	}
	return end, best != 0
}

func (m *wordMatcher) tailAt(s string, q int) (end int, ok bool) {
	switch m.tail {
	case tailBoundary:
		if q == len(s) {
			return q, true
		}
		r, size := utf8.DecodeRuneInString(s[q:])
		return q + size, !isFoldLetter(r)
	case tailLetters:
		for q < len(s) {
			r, size := utf8.DecodeRuneInString(s[q:])
			if !isFoldLetter(r) {
				break
			}
			q += size
		}
	}
	return q, true
}

// isFoldLetter is \pL as (?i) matching reads it: a letter, or a rune that
// folds to one (the combining ypogegrammeni U+0345 folds to iota).
func isFoldLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r|0x20 && r|0x20 <= 'z'
	}
	if unicode.IsLetter(r) {
		return true
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if unicode.IsLetter(f) {
			return true
		}
	}
	return false
}
