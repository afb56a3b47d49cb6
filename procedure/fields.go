package procedure

import (
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/casestore"
	"parley/locales"
	"parley/notation"
	"parley/templates"
)

// Field label ids in the locale files, in the order of the fill-in form.
var fieldLabels = []string{"LabelTrader", "LabelOrderDate", "LabelOrderRef", "LabelAmount", "LabelProblem", "LabelWants", "LabelContacted", "LabelComplainedOn"}

// reader recognises the labelled lines of a complaint in every supported
// language, and the words for wishes and yes/no. Built once per engine.
type reader struct {
	labels    map[string]*regexp.Regexp // label id -> line matcher
	words     map[string]*regexp.Regexp // Word* id -> whole-word matcher
	wishes    map[string]*wordMatcher   // Want* id -> the word and its inflection
	refWord   *wordMatcher              // where an order reference in running text can start
	refAt     *regexp.Regexp            // orderRefPattern, anchored
	orderWord *wordMatcher              // an order word a date may follow: "ordered on 3.10.2026"
	// complainedWord is what a date of the first complaint may follow in
	// running text ("I first complained to the shop on 2026-11-25").
	complainedWord *wordMatcher
	negation       map[string]*regexp.Regexp // by language
	yes, no        map[string]*regexp.Regexp // by language, with English
}

func newReader(loc *locales.Bundle) *reader {
	r := &reader{labels: map[string]*regexp.Regexp{}, words: map[string]*regexp.Regexp{}, wishes: map[string]*wordMatcher{}}
	for _, id := range fieldLabels {
		r.labels[id] = regexp.MustCompile(`(?im)^[ \t>*]*(?:` + alternation(loc.Labels(id)) + `)[ \t*]*:[ \t]*(.*?)[ \t]*$`)
	}
	// Yes and no in the writer's language and English only: Maltese "le"
	// (no) is a French article, Croatian "da" (yes) an Italian preposition.
	r.yes, r.no = map[string]*regexp.Regexp{}, map[string]*regexp.Regexp{}
	for _, lang := range loc.Languages() {
		for id, m := range map[string]map[string]*regexp.Regexp{"WordYes": r.yes, "WordNo": r.no} {
			words := strings.Split(loc.T(lang, id, nil)+"|"+loc.T("en", id, nil), "|")
			m[lang] = regexp.MustCompile(`(?i)(?:^|[^\pL])(?:` + alternation(words) + `)(?:[^\pL]|$)`)
		}
	}
	for _, id := range []string{"WordYes", "WordNo"} {
		r.words[id] = regexp.MustCompile(`(?i)(?:^|[^\pL])(?:` + alternation(loc.Labels(id)) + `)(?:[^\pL]|$)`)
	}
	// Wishes in ordinary words: a word may end inflected ("zwrotu
	// pieniędzy" for "zwrot"), and a negation just before cancels it
	// ("I don't want a refund").
	for _, id := range []string{"WantRefund", "WantRepair", "WantReplacement"} {
		r.wishes[id] = newWordMatcher(loc.Labels(id), tailLetters)
	}
	// Each language's negations, so English "no" does not negate Portuguese
	// "no site".
	r.negation = map[string]*regexp.Regexp{}
	for _, lang := range loc.Languages() {
		if loc.Has(lang, "Negation") {
			r.negation[lang] = regexp.MustCompile(`(?i)(?:^|[^\pL'])(?:` + alternation(strings.Split(loc.T(lang, "Negation", nil), "|")) + `)(?:[^\pL]|$)|n't`)
		}
	}
	r.complainedWord = newWordMatcher(append(loc.Labels("LabelComplainedOn"), loc.Labels("WordsComplained")...), tailNone)
	r.refWord = newWordMatcher(loc.Labels("LabelOrderRef"), tailNone)
	r.refAt = regexp.MustCompile(`(?i)^` + orderRefPattern(loc))
	r.orderWord = newWordMatcher(append(append(loc.Labels("LabelOrderRef"), loc.Labels("LabelOrderDate")...), loc.Labels("WordsOrdered")...), tailNone)
	return r
}

func alternation(words []string) string {
	q := alternationOrder(words)
	for i, w := range q {
		q[i] = regexp.QuoteMeta(w)
	}
	return strings.Join(q, "|")
}

// alternationOrder is words longest first, so "Order number" wins over "Order".
func alternationOrder(words []string) []string {
	q := append([]string(nil), words...)
	for i := range q {
		for j := i + 1; j < len(q); j++ {
			if len(q[j]) > len(q[i]) {
				q[i], q[j] = q[j], q[i]
			}
		}
	}
	return q
}

// hintRe is the "(for example ...)" hint Parley's fill-in form puts after
// an empty field; a line that still carries only its hint was not filled in.
var hintRe = regexp.MustCompile(`\s*\([^()]*\)\s*$`)

// value returns the first non-empty value of a labelled line (of the first five).
func (r *reader) value(id, text string) string {
	found := 0
	for start, end := range colonLines(text) {
		m := r.labels[id].FindStringSubmatch(text[start:end])
		if m == nil {
			continue
		}
		if v := strings.TrimSpace(hintRe.ReplaceAllString(m[1], "")); v != "" {
			return v
		}
		if found++; found == 5 {
			break
		}
	}
	return ""
}

// colonLines are the start and end of each line of text that holds a colon:
// only those can be labelled, and the label patterns (the labels of 26
// languages, anchored at line start and end) then run over a line each
// instead of every byte of the text.
func colonLines(text string) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for from := 0; from < len(text); {
			i := strings.IndexByte(text[from:], ':')
			if i < 0 {
				return
			}
			i += from
			start := strings.LastIndexByte(text[from:i], '\n') + 1 + from
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				end = len(text)
			} else {
				end += i
			}
			if !yield(start, end) {
				return
			}
			from = end + 1
		}
	}
}

// withoutLines returns text with what the patterns match on its colon
// lines removed (each anchored to a whole line, so the line stays, empty).
func withoutLines(text string, patterns ...*regexp.Regexp) string {
	var b strings.Builder
	done := 0 // text[:done] is in b
	for start, end := range colonLines(text) {
		line := text[start:end]
		cut := line
		for _, re := range patterns {
			cut = re.ReplaceAllString(cut, "")
		}
		if cut != line {
			b.WriteString(text[done:start])
			b.WriteString(cut)
			done = end
		}
	}
	if done == 0 {
		return text
	}
	b.WriteString(text[done:])
	return b.String()
}

// dropUnfilled removes form lines left empty (label and hint only), so the
// trader reads what the consumer wrote, not the form's blanks.
func (r *reader) dropUnfilled(text string) string {
	var keep []string
	for _, line := range strings.Split(text, "\n") {
		empty := false
		for _, id := range fieldLabels {
			if strings.IndexByte(line, ':') < 0 {
				break
			}
			if m := r.labels[id].FindStringSubmatch(line); m != nil && strings.TrimSpace(hintRe.ReplaceAllString(m[1], "")) == "" {
				empty = true
				break
			}
		}
		if !empty {
			keep = append(keep, line)
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

// withoutLabelled returns text without its labelled lines (the free text).
func (r *reader) withoutLabelled(text string) string {
	var patterns []*regexp.Regexp
	for _, id := range fieldLabels {
		if id != "LabelProblem" {
			patterns = append(patterns, r.labels[id])
		}
	}
	return strings.TrimSpace(withoutLines(text, patterns...))
}

// unclearValue is something a party wrote that more than one reading fits
// ("1.500 EUR" from an English writer, "450 kr" from a Dutch one): it is
// asked back, never guessed.
type unclearValue struct {
	label   string // the field's label id
	wrote   string // as written
	options []any  // what it could mean: locales.Money or locales.Time values
}

// optionsIn prints an unclear value's readings for a reader of lang.
func (e *Engine) optionsIn(lang string, u unclearValue) string {
	var out []string
	for _, o := range u.options {
		switch v := o.(type) {
		case locales.Money:
			out = append(out, e.loc.FormatMoney(lang, v.Cents, v.Currency))
		case locales.Time:
			out = append(out, e.loc.FormatTime(lang, v.At, true))
		default:
			out = append(out, fmt.Sprint(v))
		}
	}
	return strings.Join(out, " / ")
}

// amountFrom reads the claim's amount: from a labelled value (the currency
// may be missing), or from running text (only next to a currency). lang is
// the writer's language, which says what "1.500" means.
func amountFrom(s, lang string, labelled bool) (int64, string, *unclearValue) {
	var found []notation.Found
	if labelled {
		a, err := notation.ParseAmount(s, lang)
		var amb *notation.AmbiguousError
		switch {
		case err == nil:
			return a.Cents, a.Currency, nil
		case errors.As(err, &amb):
			found = []notation.Found{amb.Found}
		default:
			return 0, "", nil
		}
	} else {
		found = notation.FindAmounts(s, lang)
	}
	for _, f := range found {
		if f.Clear() {
			if f.Readings[0].Cents == 0 {
				continue
			}
			return f.Readings[0].Cents, f.Readings[0].Currency, nil
		}
		u := &unclearValue{label: "LabelAmount", wrote: f.Readings[0].Text}
		for _, a := range f.Readings {
			if f.CurrencyUnclear {
				for _, c := range []string{"SEK", "DKK", "NOK", "ISK"} {
					u.options = append(u.options, money(a.Cents, c))
				}
				continue
			}
			u.options = append(u.options, money(a.Cents, a.Currency))
		}
		return 0, "", u
	}
	return 0, "", nil
}

// dateFrom reads a labelled date written in lang: YYYY-MM-DD, or what two
// readings fit (asked back), or "" when there is none.
func dateFrom(label, s, lang string) (string, *unclearValue) {
	d, err := notation.ParseDate(s, lang)
	var amb *notation.AmbiguousDateError
	switch {
	case err == nil:
		return d.ISO(), nil
	case errors.As(err, &amb):
		u := &unclearValue{label: label, wrote: amb.Readings[0].Text}
		for _, r := range amb.Readings {
			u.options = append(u.options, onDay(time.Date(r.Year, r.Month, r.Day, 12, 0, 0, 0, time.UTC)))
		}
		return "", u
	}
	return "", nil
}

// wants is the first wish in s not negated just before it (in the writer's
// language lang).
func (r *reader) wants(s, lang string) string {
	best, at := "", len(s)+1
	for _, w := range []struct{ id, want string }{{"WantRefund", "refund"}, {"WantReplacement", "replacement"}, {"WantRepair", "repair"}} {
		for _, m := range r.wishes[w.id].findAll(s, 10) {
			if m[0] < at && !r.negatedBefore(s, m[0], lang) {
				best, at = w.want, m[0]
				break
			}
		}
	}
	return best
}

// negatedBefore reports a negation in the few words before i, within the
// same clause.
func (r *reader) negatedBefore(s string, i int, lang string) bool {
	neg := r.negation[lang]
	if neg == nil {
		return false
	}
	start := max(0, i-30)
	for start > 0 && start < len(s) && s[start]&0xC0 == 0x80 {
		start--
	}
	before := s[start:i]
	if start > 0 {
		// Never read the tail of a cut word ("kett|le" is not Maltese "le").
		if r, _ := utf8.DecodeLastRuneInString(s[:start]); unicode.IsLetter(r) {
			if j := strings.IndexFunc(before, func(r rune) bool { return !unicode.IsLetter(r) }); j >= 0 {
				before = before[j:]
			} else {
				before = ""
			}
		}
	}
	if j := strings.LastIndexAny(before, ".,;:!?\n"); j >= 0 {
		before = before[j+1:]
	}
	return neg.MatchString(before)
}

// read extracts the trader line and the complaint fields from a message
// text in lang, and what it could not settle.
func (r *reader) read(text, lang string) (traderValue string, f casestore.Fields, unclear []unclearValue) {
	// What a complaint says is at its top; the rest (long quoted threads,
	// pasted order histories) only costs the reading time (the patterns of
	// 26 languages run over every byte), so it is left unread.
	text = clip(text, maxReadText)
	traderValue = r.value("LabelTrader", text)
	unlabelled := r.withoutLabelled(text)
	ask := func(u *unclearValue) {
		if u != nil {
			unclear = append(unclear, *u)
		}
	}
	if v := r.value("LabelOrderDate", text); v != "" {
		var u *unclearValue
		f.OrderDate, u = dateFrom("LabelOrderDate", v, lang)
		ask(u)
	} else {
		// Only a date shortly after an order word: running text has other
		// dates (delivery promises, Parley's own deadlines in quoted mail).
		f.OrderDate = sentenceDate(unlabelled, r.orderWord, lang)
	}
	if v := r.value("LabelOrderRef", text); v != "" {
		f.OrderRef = clip(v, 100)
	} else {
		f.OrderRef = r.orderRef(unlabelled)
	}
	var u *unclearValue
	if v := r.value("LabelAmount", text); v != "" {
		f.Amount, f.Currency, u = amountFrom(v, lang, true)
	} else {
		f.Amount, f.Currency, u = amountFrom(unlabelled, lang, false)
	}
	ask(u)
	free := unlabelled
	if v := r.value("LabelProblem", text); v != "" {
		f.Problem = clip(v, 4000)
	} else {
		f.Problem = clip(withoutLines(free, r.labels["LabelProblem"]), 4000)
	}
	if v := r.value("LabelWants", text); v != "" {
		if f.Wants = r.wants(v, lang); f.Wants == "" {
			f.Wants = "other: " + clip(v, 200)
		}
	} else {
		f.Wants = r.wants(free, lang)
	}
	if v := r.value("LabelContacted", text); v != "" {
		f.Contacted = r.yesNo(v, lang)
	}
	if v := r.value("LabelComplainedOn", text); v != "" {
		var u *unclearValue
		f.ComplainedOn, u = dateFrom("LabelComplainedOn", v, lang)
		ask(u)
	} else {
		f.ComplainedOn = sentenceDate(unlabelled, r.complainedWord, lang)
	}
	return traderValue, f, unclear
}

// orderRefPattern is an order reference in running text ("order 1234",
// "bestelling nr. A-77") from its order word on; the reference is its group.
func orderRefPattern(loc *locales.Bundle) string {
	return `(?:` + alternation(loc.Labels("LabelOrderRef")) + `)\s*(?:nr\.?|no\.?|n°|n\.º|nº|č\.|number|nummer|numéro|numero|número|#)?\s*[:#]?\s*([\pL\d][\pL\d/-]{1,30})`
}

// refWithDigit is a matched order reference without trailing punctuation,
// if it holds a digit ("order confirmation" names none).
func refWithDigit(ref string) (string, bool) {
	ref = strings.TrimRight(ref, ".,;:)/-")
	return ref, strings.ContainsAny(ref, "0123456789")
}

// orderRef is the first order reference with a digit in running text
// ("order 1234"), of the first five matches of (?i)(?:^|[^\pL]) and
// orderRefPattern. That regexp over the whole text ran its alternation of 26
// languages' order words at every byte; this tries it only where an order
// word starts (refWord), anchored there (refAt), and finds the same matches
// (TestOrderRefAgrees, FuzzOrderRef).
func (r *reader) orderRef(text string) string {
	found := 0
	for at := 0; at <= len(text) && found < 5; {
		q, _, ok := r.refWord.next(text, at)
		if !ok {
			break
		}
		// As (?:^|[^\pL]) does: the start of the text first, then the sign before the word.
		m := []int(nil)
		if q == 0 {
			m = r.refAt.FindStringSubmatchIndex(text)
		}
		c, size := utf8.DecodeRuneInString(text[q:])
		if m == nil && q < len(text) && !isFoldLetter(c) {
			if m = r.refAt.FindStringSubmatchIndex(text[q+size:]); m != nil {
				for i := range m {
					if m[i] >= 0 {
						m[i] += q + size
					}
				}
			}
		}
		if m == nil {
			at = q + max(size, 1)
			continue
		}
		found++
		if ref, ok := refWithDigit(text[m[2]:m[3]]); ok {
			return ref
		}
		at = m[1]
	}
	return ""
}

// sentenceDate is the date of the sentence in which word occurs ("I bought
// them on 3 November", "Op 2 november 2026 heb ik besteld"), when that
// sentence holds exactly one date and it reads one way only: running text has
// other dates (delivery promises, quoted deadlines), and a guess is worse
// than asking.
func sentenceDate(text string, word *wordMatcher, lang string) string {
	for _, m := range word.findAll(text, 5) {
		start, end := max(0, m[0]-160), min(len(text), m[1]+160)
		for start > 0 && !utf8.RuneStart(text[start]) {
			start++
		}
		for end < len(text) && !utf8.RuneStart(text[end]) {
			end++
		}
		sentence := text[start:end]
		a, b := m[0]-start, m[1]-start
		// The match starts at the sign before the word (a line break, a
		// full stop): that sign belongs to the sentence before.
		if r, n := utf8.DecodeRuneInString(sentence[a:]); a < b && !unicode.IsLetter(r) {
			a += n
		}
		from, to := 0, len(sentence)
		for i := a - 1; i >= 0; i-- {
			if isSentenceEnd(sentence, i) {
				from = i + 1
				break
			}
		}
		for i := b; i < len(sentence); i++ {
			if isSentenceEnd(sentence, i) {
				to = i
				break
			}
		}
		sentence = sentence[from:to]
		if found := notation.FindDates(sentence, lang); len(found) == 1 && len(found[0]) == 1 {
			return found[0][0].ISO()
		}
	}
	return ""
}

// isSentenceEnd: a line break, "!", "?", ";", or a full stop before a space
// and a capital letter, not after a day number: "3. Oktober", "2026. gada 3.
// novembrī", "2026 m. lapkričio 3 d." and "d. 3.11.2026" stay whole, "in
// 2026. Then" does not.
func isSentenceEnd(s string, i int) bool {
	switch s[i] {
	case '\n', '!', '?', ';':
		return true
	case '.':
		if i+2 >= len(s) || s[i+1] != ' ' {
			return false
		}
		next, _ := utf8.DecodeRuneInString(s[i+2:])
		if !unicode.IsUpper(next) {
			return false
		}
		digits := 0
		for j := i - 1; j >= 0 && s[j] >= '0' && s[j] <= '9'; j-- {
			digits++
		}
		return digits == 0 || digits > 2
	}
	return false
}

// yesNo reads a yes or a no in lang (or English); with lang unknown, in any
// language.
func (r *reader) yesNo(v, lang string) string {
	yes, no := r.yes[lang], r.no[lang]
	if yes == nil {
		yes, no = r.words["WordYes"], r.words["WordNo"]
	}
	switch {
	case yes.MatchString(v):
		return "yes"
	case no.MatchString(v):
		return "no"
	}
	return ""
}

// fieldValue is one complaint field as read from a labelled line or #set.
type fieldValue struct {
	name  string         // as #set and the log name it: amount, order-date, ...
	label string         // its label id in the locales
	shown string         // the stored form
	money *locales.Money // an amount, shown in each reader's notation
	set   func(*casestore.Fields)
	get   func(casestore.Fields) string
}

// apply sets the field; was is its stored form before.
func (fv fieldValue) apply(f *casestore.Fields) (was string, changed bool) {
	was = fv.get(*f)
	fv.set(f)
	return was, fv.get(*f) != was
}

// display is the value as a reader of lang sees it.
func (fv fieldValue) display(e *Engine, lang string) string {
	switch {
	case fv.money != nil:
		return e.loc.FormatMoney(lang, fv.money.Cents, fv.money.Currency)
	case fv.name == "order-date" || fv.name == "complained-on":
		return e.dayShown(fv.shown, lang)
	case fv.name == "wants":
		return e.wantsShown(fv.shown, lang)
	case fv.name == "contacted" && fv.shown == "yes":
		return e.loc.T(lang, "WordYesShown", nil)
	case fv.name == "contacted" && fv.shown == "no":
		return e.loc.T(lang, "WordNoShown", nil)
	}
	return fv.shown
}

// settable names the fields #set takes, with their label ids.
var settable = []struct{ name, label string }{
	{"amount", "LabelAmount"}, {"order-date", "LabelOrderDate"}, {"order-ref", "LabelOrderRef"},
	{"complained-on", "LabelComplainedOn"}, {"contacted", "LabelContacted"}, {"wants", "LabelWants"},
}

// setValue reads `#set NAME VALUE`.
func (r *reader) setValue(name, value, currency, lang string) (fieldValue, error) {
	for _, s := range settable {
		if s.name == name {
			return r.parseField(s.label, value, currency, lang)
		}
	}
	return fieldValue{}, fmt.Errorf("unknown field %q", name)
}

// labelled reads the labelled field lines of a reply after intake. A value
// two readings fit is returned as unclear; one that cannot be read at all is
// left alone.
func (r *reader) labelled(text, currency, lang string) ([]fieldValue, []unclearValue) {
	var out []fieldValue
	var unclear []unclearValue
	for _, s := range settable {
		if v := r.value(s.label, text); v != "" {
			fv, err := r.parseField(s.label, v, currency, lang)
			var u *unclearError
			switch {
			case err == nil:
				out = append(out, fv)
			case errors.As(err, &u):
				unclear = append(unclear, u.v)
			}
		}
	}
	return out, unclear
}

// unclearError is a value more than one reading fits.
type unclearError struct{ v unclearValue }

func (e *unclearError) Error() string {
	return fmt.Sprintf("%q could be %v", e.v.wrote, e.v.options)
}

// parseField reads value as the field of label, written in lang.
func (r *reader) parseField(label, value, currency, lang string) (fieldValue, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return fieldValue{}, fmt.Errorf("%s: no value", label)
	}
	date := func(name string, field func(*casestore.Fields) *string) (fieldValue, error) {
		d, u := dateFrom(label, value, lang)
		if u != nil {
			return fieldValue{}, &unclearError{*u}
		}
		if d == "" {
			return fieldValue{}, fmt.Errorf("%s %q: not a date", name, value)
		}
		return fieldValue{name: name, label: label, shown: d, set: func(f *casestore.Fields) { *field(f) = d },
			get: func(f casestore.Fields) string { return *field(&f) }}, nil
	}
	text := func(name, v string, field func(*casestore.Fields) *string) (fieldValue, error) {
		return fieldValue{name: name, label: label, shown: v, set: func(f *casestore.Fields) { *field(f) = v },
			get: func(f casestore.Fields) string { return *field(&f) }}, nil
	}
	switch label {
	case "LabelAmount":
		cents, cur, u := amountFrom(value, lang, true)
		if u != nil {
			return fieldValue{}, &unclearError{*u}
		}
		if cents == 0 {
			return fieldValue{}, fmt.Errorf("amount %q: not an amount", value)
		}
		if cur == "" {
			cur = currency
		}
		shown := canonical(cents, cur)
		return fieldValue{name: "amount", label: label, shown: shown, money: &locales.Money{Cents: cents, Currency: cur},
			set: func(f *casestore.Fields) { f.Amount, f.Currency = cents, cur },
			get: func(f casestore.Fields) string {
				if f.Amount == 0 {
					return ""
				}
				return canonical(f.Amount, f.Currency)
			}}, nil
	case "LabelOrderDate":
		return date("order-date", func(f *casestore.Fields) *string { return &f.OrderDate })
	case "LabelComplainedOn":
		return date("complained-on", func(f *casestore.Fields) *string { return &f.ComplainedOn })
	case "LabelOrderRef":
		return text("order-ref", clip(value, 100), func(f *casestore.Fields) *string { return &f.OrderRef })
	case "LabelContacted":
		yn := r.yesNo(value, lang)
		if yn == "" {
			return fieldValue{}, fmt.Errorf("contacted %q: want yes or no", value)
		}
		return text("contacted", yn, func(f *casestore.Fields) *string { return &f.Contacted })
	case "LabelWants":
		w := r.wants(value, lang)
		if w == "" {
			w = "other: " + clip(value, 200)
		}
		return text("wants", w, func(f *casestore.Fields) *string { return &f.Wants })
	}
	return fieldValue{}, fmt.Errorf("%s: not a settable field", label)
}

// merge fills what f lacks from more.
func merge(f, more casestore.Fields) casestore.Fields {
	if f.OrderDate == "" {
		f.OrderDate = more.OrderDate
	}
	if f.OrderRef == "" {
		f.OrderRef = more.OrderRef
	}
	if f.Amount == 0 {
		f.Amount, f.Currency = more.Amount, more.Currency
	}
	if f.Problem == "" {
		f.Problem = more.Problem
	}
	if f.Wants == "" {
		f.Wants = more.Wants
	}
	if f.Contacted == "" {
		f.Contacted = more.Contacted
	}
	if f.ComplainedOn == "" {
		f.ComplainedOn = more.ComplainedOn
	}
	return f
}

// complete reports whether the trader can be notified: who, what went wrong,
// and what the consumer wants. The rest decides arbitration eligibility.
func hasRequired(c *casestore.Case) bool {
	return c.Trader.Email != "" && c.Fields.Problem != "" && c.Fields.Wants != ""
}

// askLines ask, in lang, which reading of each unclear value was meant,
// each with the labelled line to reply with.
func (e *Engine) askLines(lang string, unclear []unclearValue) []string {
	var lines []string
	for _, u := range unclear {
		l, _, _ := strings.Cut(e.loc.T(lang, u.label, nil), "|")
		lines = append(lines, e.loc.T(lang, "AskUnclear", templates.Data{Text: u.wrote, Options: e.optionsIn(lang, u)}), l+": ")
	}
	return lines
}

// missing returns the fill-in lines for what the complaint lacks, labelled in
// lang so the consumer's answer is read back by the same labels.
func (e *Engine) missing(c *casestore.Case, lang string, unclear []unclearValue) []string {
	first := func(id string) string { l, _, _ := strings.Cut(e.loc.T(lang, id, nil), "|"); return l }
	var lines []string
	add := func(id, hint string) {
		line := first(id) + ": "
		if hint != "" {
			line += "   (" + e.loc.T(lang, hint, nil) + ")"
		}
		lines = append(lines, line)
	}
	f := c.Fields
	if c.Trader.Email == "" {
		add("LabelTrader", "FillTraderHint")
	}
	if f.Problem == "" {
		add("LabelProblem", "")
	}
	if f.Wants == "" {
		add("LabelWants", "FillWantsHint")
	}
	if f.OrderDate == "" {
		add("LabelOrderDate", "FillDateHint")
	}
	if f.OrderRef == "" {
		add("LabelOrderRef", "")
	}
	if f.Amount == 0 {
		line := first("LabelAmount") + ": "
		for _, u := range unclear {
			if u.label == "LabelAmount" {
				line += "   (" + e.loc.T(lang, "UnclearHint", templates.Data{Text: u.wrote, Options: e.optionsIn(lang, u)}) + ")"
			}
		}
		lines = append(lines, line)
	}
	if f.ComplainedOn == "" {
		add("LabelComplainedOn", "FillDateHint")
	}
	return lines
}

// maxReadText bounds the text of a message the intake reads for fields.
const maxReadText = 16 << 10

func clip(s string, n int) string {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
