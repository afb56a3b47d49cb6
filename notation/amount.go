// Package notation reads the numbers people write: amounts of money with
// their currency, in every notation usual in the EU and EEA (symbol or ISO
// code before or after, thousands grouped by '.', ',', an apostrophe, a
// space or a no-break space, decimals after ',' or '.', ",-" endings, words
// like "euro", "złotych" or "kr"), and dates (ISO 8601, day-month-year with
// any usual separator, month names in the supported languages).
//
// A reader here never guesses: a notation two readings fit (a lone "1.500"
// where the language uses '.' for decimals) is reported as ambiguous with
// both readings, for the caller to ask back. Every value returned keeps all
// the digits written (ISO 4217 minor units: cents; no currency here has
// three decimals, so three digits after a lone separator are never cut).
package notation

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Amount is money read from text.
type Amount struct {
	Cents    int64  // in the currency's hundredths
	Currency string // ISO 4217; "" when the text named no currency
	// Text is the notation as written (number and currency), and Start/End
	// its byte offsets in the text read.
	Text       string
	Start, End int
}

func (a Amount) String() string {
	s := fmt.Sprintf("%d.%02d", a.Cents/100, a.Cents%100)
	if a.Currency != "" {
		s += " " + a.Currency
	}
	return s
}

// Found is an amount found in text: one reading, or several when the
// notation is ambiguous.
type Found struct {
	Readings []Amount // one: clear; two or more: ask which
	// CurrencyUnclear is set when the currency word fits several
	// currencies ("kr" outside the Nordic languages).
	CurrencyUnclear bool
}

// Clear reports whether the amount has one reading and a known currency.
func (f Found) Clear() bool { return len(f.Readings) == 1 && !f.CurrencyUnclear }

// ErrNoAmount is returned when a text holds no amount.
var ErrNoAmount = errors.New("no amount")

// AmbiguousError is returned by ParseAmount for a notation with more than
// one reading.
type AmbiguousError struct{ Found Found }

func (e *AmbiguousError) Error() string {
	var r []string
	for _, a := range e.Found.Readings {
		r = append(r, a.String())
	}
	if e.Found.CurrencyUnclear {
		return fmt.Sprintf("amount %q: the currency is unclear", e.Found.Readings[0].Text)
	}
	return fmt.Sprintf("amount %q: could be %s", e.Found.Readings[0].Text, strings.Join(r, " or "))
}

// maxCents bounds an amount (ten thousand billion units) so no value overflows.
const maxCents = 1e15

// ParseAmount reads a value that is meant to be one amount, such as the
// value of an "Amount:" line: the currency may be missing. lang (a
// two-letter code, or "") says which separator the writer uses for decimals.
func ParseAmount(s, lang string) (Amount, error) {
	found := find(s, lang, false)
	if len(found) == 0 {
		return Amount{}, ErrNoAmount
	}
	f := found[0]
	if !f.Clear() {
		return Amount{}, &AmbiguousError{Found: f}
	}
	return f.Readings[0], nil
}

// FindAmounts returns the amounts in running text: only numbers written next
// to a currency, so order numbers and dates are not taken for money.
func FindAmounts(text, lang string) []Found { return find(text, lang, true) }

// find scans text for number tokens and the currency next to them.
func find(text, lang string, needCurrency bool) []Found {
	var out []Found
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isDigit(r) || (i > 0 && precededByWordChar(text, i)) {
			i += size
			continue
		}
		tok, ok := scanNumber(text, i)
		if !ok || followedByWordChar(text, tok.end) {
			i = max(tok.end, i+size)
			continue
		}
		cur, start, end, unclear := currencyAround(text, tok.start, tok.end, lang)
		if cur == "" && !unclear && needCurrency {
			i = tok.end
			continue
		}
		readings := tok.readings(lang, cur)
		if len(readings) == 0 {
			i = tok.end
			continue
		}
		f := Found{CurrencyUnclear: unclear}
		for _, cents := range readings {
			f.Readings = append(f.Readings, Amount{Cents: cents, Currency: cur, Text: strings.TrimSpace(text[start:end]), Start: start, End: end})
		}
		out = append(out, f)
		i = end
	}
	return out
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// precededByWordChar: a digit glued to letters before it ("A-1234" is not
// glued; "x123" is) belongs to a code, not an amount; a currency symbol or
// code glued to it ("€49", "EUR49") is fine.
func precededByWordChar(text string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	if isDigit(r) {
		return true
	}
	if !unicode.IsLetter(r) {
		return false
	}
	w := lastWord(text[:i])
	_, ok := currencyWords[strings.ToLower(w)]
	return !ok
}

func followedByWordChar(text string, i int) bool {
	if i >= len(text) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	if isDigit(r) {
		return true
	}
	if !unicode.IsLetter(r) {
		return false
	}
	w := firstWord(text[i:])
	_, ok := currencyWords[strings.ToLower(w)]
	return !ok
}

// numberToken is a run of digit groups and separators as written.
type numberToken struct {
	start, end int
	groups     []string // digit groups
	seps       []string // separators between groups (len(groups)-1)
	wholeOnly  bool     // ended in ",-" or ".-": no decimals
}

// group separators people type between digits.
var separators = []string{".", ",", "'", "’", " ", "\u00a0", "\u202f"}

func sepAt(text string, i int) string {
	for _, s := range separators {
		if strings.HasPrefix(text[i:], s) {
			return s
		}
	}
	return ""
}

// scanNumber reads digits and single separators between digits from i.
func scanNumber(text string, i int) (numberToken, bool) {
	tok := numberToken{start: i}
	j := i
	for {
		k := j
		for k < len(text) && text[k] >= '0' && text[k] <= '9' {
			k++
		}
		if k == j {
			break
		}
		tok.groups = append(tok.groups, text[j:k])
		j = k
		s := sepAt(text, j)
		if s == "" || j+len(s) >= len(text) || !isDigit(rune(text[j+len(s)])) {
			break
		}
		// A space separates digit groups only before exactly three digits:
		// "1 500" is a number, "page 3 200 times" should not be.
		if strings.TrimSpace(s) == "" || s == "\u00a0" || s == "\u202f" {
			n := 0
			for n < 4 && j+len(s)+n < len(text) && isDigit(rune(text[j+len(s)+n])) {
				n++
			}
			if n != 3 {
				break
			}
		}
		tok.seps = append(tok.seps, s)
		j += len(s)
	}
	tok.end = j
	for _, end := range []string{",-", ".-", ",--", ".--", ",—", ",–"} {
		if strings.HasPrefix(text[j:], end) && (len(text) == j+len(end) || !isDigit(rune(text[j+len(end)]))) {
			tok.wholeOnly, tok.end = true, j+len(end)
			break
		}
	}
	if len(tok.groups) == 0 {
		return tok, false
	}
	total := 0
	for _, g := range tok.groups {
		total += len(g)
	}
	return tok, total <= 15
}

// decimalComma lists the languages that write decimals after a comma (CLDR);
// the others here (en, ga, mt) write a point.
var decimalComma = map[string]bool{"bg": true, "cs": true, "da": true, "de": true, "el": true, "es": true, "et": true, "fi": true,
	"fr": true, "hr": true, "hu": true, "is": true, "it": true, "lt": true, "lv": true, "nb": true, "nl": true, "pl": true, "pt": true,
	"ro": true, "sk": true, "sl": true, "sv": true}

var decimalPoint = map[string]bool{"en": true, "ga": true, "mt": true}

// readings are the values in cents the token can mean, best first; none
// when it is not a well-formed number.
func (t numberToken) readings(lang, currency string) []int64 {
	digits := strings.Join(t.groups, "")
	whole := func(s string) (int64, bool) {
		var v int64
		for _, c := range s {
			v = v*10 + int64(c-'0')
			if v > maxCents/100 {
				return 0, false
			}
		}
		return v * 100, true
	}
	withDecimals := func(intPart, dec string) (int64, bool) {
		w, ok := whole(intPart)
		if !ok {
			return 0, false
		}
		d := int64(0)
		for _, c := range dec {
			d = d*10 + int64(c-'0')
		}
		if len(dec) == 1 {
			d *= 10
		}
		return w + d, true
	}
	one := func(v int64, ok bool) []int64 {
		if !ok {
			return nil
		}
		return []int64{v}
	}
	n := len(t.groups)
	if n == 1 {
		return one(whole(digits))
	}
	// Thousands groups: the first 1-3 digits, the others exactly 3.
	grouped := func(gs []string) bool {
		if len(gs[0]) > 3 || len(gs[0]) == 0 {
			return false
		}
		for _, g := range gs[1:] {
			if len(g) != 3 {
				return false
			}
		}
		return true
	}
	last := t.groups[n-1]
	lastSep := t.seps[n-2]
	sameSeps := true
	for _, s := range t.seps {
		sameSeps = sameSeps && s == t.seps[0]
	}
	decimalSep := lastSep == "." || lastSep == ","
	// The last separator is a decimal one when 1-2 digits follow it and the
	// separators before it (if any) group thousands with another character.
	if decimalSep && (len(last) == 1 || len(last) == 2) && !t.wholeOnly {
		head := t.groups[:n-1]
		if n == 2 || (grouped(head) && !sepsInclude(t.seps[:n-2], lastSep)) {
			return one(withDecimals(strings.Join(head, ""), last))
		}
		return nil
	}
	if !grouped(t.groups) {
		return nil
	}
	if !sameSeps {
		return nil // "1.234,567": no reading keeps every digit as money
	}
	thousands, _ := whole(digits)
	if n > 2 || !decimalSep || t.wholeOnly {
		return []int64{thousands}
	}
	// A lone '.' or ',' before exactly three digits: thousands, unless the
	// writer's language uses that very separator for decimals, where "1.500"
	// may mean one and a half. Currencies without minor units in use (HUF,
	// ISK) settle it; with no language known, both readings stay.
	if currency == "HUF" || currency == "ISK" {
		return []int64{thousands}
	}
	usesForDecimals := (lastSep == "," && decimalComma[lang]) || (lastSep == "." && decimalPoint[lang])
	usesForThousands := (lastSep == "." && decimalComma[lang]) || (lastSep == "," && decimalPoint[lang])
	switch {
	case usesForThousands:
		return []int64{thousands}
	case usesForDecimals || lang == "" || (!decimalComma[lang] && !decimalPoint[lang]):
		dec, ok := withDecimals(t.groups[0], last[:2])
		if !ok || last[2] != '0' {
			// "1.505" cannot be money with three decimals: thousands.
			return []int64{thousands}
		}
		return []int64{thousands, dec}
	}
	return []int64{thousands}
}

func sepsInclude(seps []string, s string) bool {
	for _, x := range seps {
		if x == s {
			return true
		}
	}
	return false
}
