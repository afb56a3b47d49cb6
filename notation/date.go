package notation

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Date is a calendar day read from text.
type Date struct {
	Year       int
	Month      time.Month
	Day        int
	Text       string // as written
	Start, End int
}

// ISO is the date as YYYY-MM-DD.
func (d Date) ISO() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// ErrNoDate is returned when a text holds no date.
var ErrNoDate = errors.New("no date")

// AmbiguousDateError is a date more than one reading fits: "03/10/2026"
// from a writer whose order of day and month is not known, or a month name
// that means different months in different languages ("listopad").
type AmbiguousDateError struct{ Readings []Date }

func (e *AmbiguousDateError) Error() string {
	var r []string
	for _, d := range e.Readings {
		r = append(r, d.ISO())
	}
	return fmt.Sprintf("date %q: could be %s", e.Readings[0].Text, strings.Join(r, " or "))
}

// knownOrder lists the languages whose writers put the day before the month
// in numeric dates (every EU and EEA language; CLDR). A slash date from a
// writer of unknown language, with both numbers 12 or less, is ambiguous.
func dayFirst(lang string) bool { _, ok := monthNames[lang]; return ok }

// monthIndex maps each lower-case month name form to its month per language.
type monthIndex map[string]map[string]time.Month

var months = func() monthIndex {
	idx := monthIndex{}
	for lang, names := range monthNames {
		for i, forms := range names {
			for _, f := range strings.Split(forms, "|") {
				f = strings.ToLower(f)
				if idx[f] == nil {
					idx[f] = map[string]time.Month{}
				}
				idx[f][lang] = time.Month(i + 1)
			}
		}
	}
	return idx
}()

// englishAbbrev are abbreviations understood from any writer.
var englishAbbrev = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}

// monthOf resolves a month word written by a writer of lang: one month, or
// several when the word means different months in different languages and
// lang does not settle it.
func monthOf(word, lang string) []time.Month {
	w := strings.ToLower(strings.TrimSuffix(word, "."))
	if byLang, ok := months[w]; ok {
		if m, ok := byLang[lang]; ok {
			return []time.Month{m}
		}
		seen := map[time.Month]bool{}
		var out []time.Month
		for _, m := range byLang {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	// An abbreviation of three letters or more of the writer's own month names.
	if names, ok := monthNames[lang]; ok && len([]rune(w)) >= 3 {
		var out []time.Month
		for i, forms := range names {
			for _, f := range strings.Split(forms, "|") {
				if strings.HasPrefix(strings.ToLower(f), w) {
					out = append(out, time.Month(i+1))
					break
				}
			}
		}
		if len(out) == 1 {
			return out
		}
	}
	if m, ok := englishAbbrev[w]; ok {
		return []time.Month{m}
	}
	return nil
}

const (
	pre  = `(?:^|[^\pL\d])`
	post = `(?:$|[^\pL\d])`
	word = `(Meán Fómhair|Deireadh Fómhair|\pL+\.?)`
)

var (
	isoDate = regexp.MustCompile(pre + `(\d{4})-(\d{1,2})-(\d{1,2})` + post)
	ymdDots = regexp.MustCompile(pre + `(\d{4})\. ?(\d{1,2})\. ?(\d{1,2})\.?` + post)
	// Day, month and year with one separator used twice: 3.10.2026,
	// 03-10-2026, 3/10/26, "3. 10. 2026".
	numericDMY = regexp.MustCompile(pre + `(\d{1,2}) ?([./-]) ?(\d{1,2}) ?([./-]) ?(\d{4}|\d{2})` + post)
	// 3 October 2026, 3. Oktober 2026, 3 de octubre de 2026, 3rd of Oct. 2026, le 3 octobre 2026.
	textDMY = regexp.MustCompile(`(?i)` + pre + `(\d{1,2})(?:\.|st|nd|rd|th|er|º|ª|η)?\s*(?:de\s+|of\s+|ta'\s*)?` + word + `,?\s*(?:de\s+|del\s+)?(\d{4})` + post)
	// October 3, 2026.
	textMDY = regexp.MustCompile(`(?i)` + pre + word + `\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})` + post)
	// 2026. október 3. (hu); 2026 m. spalio 3 d. (lt); 2026. gada 3. oktobrī (lv).
	textYMD = regexp.MustCompile(`(?i)` + pre + `(\d{4})\.?\s*(?:m\.\s*)?` + word + `\s+(\d{1,2})\.?(?:\s*d\.)?` + post)
	textLV  = regexp.MustCompile(`(?i)` + pre + `(\d{4})\.\s*gada\s+(\d{1,2})\.\s*` + word + post)
)

// FindDates returns the dates written in text by a writer of lang, in the
// order they appear. An entry with several readings is ambiguous.
func FindDates(text, lang string) [][]Date {
	type hit struct {
		start    int
		readings []Date
	}
	var hits []hit
	taken := make([]bool, len(text)+1)
	add := func(start, end int, readings []Date) {
		for i := start; i < end; i++ {
			if taken[i] {
				return
			}
		}
		var ok []Date
		for _, d := range readings {
			if valid(d) {
				d.Text, d.Start, d.End = strings.TrimSpace(text[start:end]), start, end
				ok = append(ok, d)
			}
		}
		if len(ok) == 0 {
			return
		}
		for i := start; i < end; i++ {
			taken[i] = true
		}
		hits = append(hits, hit{start, ok})
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	year := func(s string) int {
		y := num(s)
		if len(s) == 2 {
			y += 2000
		}
		return y
	}
	span := func(m []int) (int, int) {
		start, end := m[2], m[len(m)-1]
		for i := 2; i < len(m); i += 2 {
			if m[i] >= 0 && m[i] < start {
				start = m[i]
			}
			if m[i+1] > end {
				end = m[i+1]
			}
		}
		return start, end
	}
	for _, m := range isoDate.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, []Date{{Year: num(text[m[2]:m[3]]), Month: time.Month(num(text[m[4]:m[5]])), Day: num(text[m[6]:m[7]])}})
	}
	for _, m := range ymdDots.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, []Date{{Year: num(text[m[2]:m[3]]), Month: time.Month(num(text[m[4]:m[5]])), Day: num(text[m[6]:m[7]])}})
	}
	for _, m := range textLV.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, withMonths(num(text[m[2]:m[3]]), monthOf(text[m[6]:m[7]], lang), num(text[m[4]:m[5]])))
	}
	for _, m := range textYMD.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, withMonths(num(text[m[2]:m[3]]), monthOf(text[m[4]:m[5]], lang), num(text[m[6]:m[7]])))
	}
	for _, m := range textDMY.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, withMonths(num(text[m[6]:m[7]]), monthOf(text[m[4]:m[5]], lang), num(text[m[2]:m[3]])))
	}
	for _, m := range textMDY.FindAllStringSubmatchIndex(text, -1) {
		s, e := span(m)
		add(s, e, withMonths(num(text[m[6]:m[7]]), monthOf(text[m[2]:m[3]], lang), num(text[m[4]:m[5]])))
	}
	for _, m := range numericDMY.FindAllStringSubmatchIndex(text, -1) {
		if text[m[4]:m[5]] != text[m[8]:m[9]] {
			continue // 3.10/2026: not one notation
		}
		s, e := span(m)
		a, b, y := num(text[m[2]:m[3]]), num(text[m[6]:m[7]]), year(text[m[10]:m[11]])
		readings := []Date{{Year: y, Month: time.Month(b), Day: a}}
		if text[m[4]:m[5]] == "/" && !dayFirst(lang) && a != b && a <= 12 && b <= 12 {
			readings = append(readings, Date{Year: y, Month: time.Month(a), Day: b})
		}
		add(s, e, readings)
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].start < hits[j].start })
	out := make([][]Date, len(hits))
	for i, h := range hits {
		out[i] = h.readings
	}
	return out
}

func withMonths(y int, ms []time.Month, d int) []Date {
	var out []Date
	for _, m := range ms {
		out = append(out, Date{Year: y, Month: m, Day: d})
	}
	return out
}

// valid: a real calendar day in a plausible range for a purchase or a complaint.
func valid(d Date) bool {
	if d.Year < 1970 || d.Year > 2200 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Day() == d.Day && t.Month() == d.Month
}

// ParseDate reads a value meant to be one date, such as the value of an
// "Order date:" line, written by a writer of lang.
func ParseDate(s, lang string) (Date, error) {
	found := FindDates(s, lang)
	if len(found) == 0 {
		return Date{}, ErrNoDate
	}
	if len(found[0]) > 1 {
		return Date{}, &AmbiguousDateError{Readings: found[0]}
	}
	return found[0][0], nil
}
