package locales

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/bojanz/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Values a reader sees in their own notation: a moment (Time) in the
// locale's date layout with its weekday and month names, in the operator's
// time zone with the zone shown; an amount (Money) with the locale's
// separators and currency placement (CLDR, through github.com/bojanz/currency,
// which places the symbol as each locale does, where golang.org/x/text's
// currency formatting puts it first everywhere).
//
// Time and Money print as ISO values until they are localized: Bundle.T and
// the templates localize the values they print for the reader's language.

// Time is a moment to show a reader.
type Time struct {
	At   time.Time
	Day  bool // the day only, without the time of day
	text string
}

func (t Time) String() string {
	if t.text != "" || t.At.IsZero() {
		return t.text
	}
	if t.Day {
		return t.At.UTC().Format("2006-01-02")
	}
	return t.At.UTC().Format("2006-01-02 15:04 UTC")
}

// Money is an amount in a currency's hundredths.
type Money struct {
	Cents    int64
	Currency string
	text     string
}

func (m Money) String() string {
	if m.text != "" {
		return m.text
	}
	return fmt.Sprintf("%d.%02d %s", m.Cents/100, m.Cents%100, m.Currency)
}

// Localizable is data that can print its Time and Money values for a
// language (templates.Data).
type Localizable interface {
	Localize(b *Bundle, lang string) any
}

// Localize returns t as a reader of lang reads it.
func (b *Bundle) LocalTime(lang string, t Time) Time {
	if t.At.IsZero() {
		return t
	}
	t.text = b.FormatTime(lang, t.At, t.Day)
	return t
}

// LocalMoney returns m as a reader of lang reads it.
func (b *Bundle) LocalMoney(lang string, m Money) Money {
	m.text = b.FormatMoney(lang, m.Cents, m.Currency)
	return m
}

// dateFields fill a locale's DateFormat.
type dateFields struct {
	Weekday, Day, Month, Year, Time, Zone string
}

// FormatTime prints t in lang's layout and names, in the bundle's zone.
// dayOnly leaves out the time of day and the zone.
func (b *Bundle) FormatTime(lang string, t time.Time, dayOnly bool) string {
	if !b.Supported(lang) {
		lang = b.fallback
	}
	t = t.In(b.zone)
	days := strings.Split(b.T(lang, "Weekdays", nil), "|")
	months := strings.Split(b.T(lang, "MonthsInDates", nil), "|")
	if len(days) != 7 || len(months) != 12 {
		return t.Format("2006-01-02 15:04 MST")
	}
	f := dateFields{Weekday: days[(int(t.Weekday())+6)%7], Day: fmt.Sprint(t.Day()), Month: months[t.Month()-1],
		Year: fmt.Sprint(t.Year()), Time: t.Format("15:04"), Zone: t.Format("MST")}
	layouts := b.dateLayout
	if dayOnly {
		layouts = b.dayLayout
	}
	layout := layouts[lang]
	if layout == nil {
		return t.Format("2006-01-02 15:04 MST")
	}
	var buf bytes.Buffer
	if err := layout.Execute(&buf, f); err != nil {
		return t.Format("2006-01-02 15:04 MST")
	}
	return strings.Join(strings.Fields(buf.String()), " ")
}

// cldrLocale is the CLDR locale whose currency format a language's readers
// use here (Portuguese as in Portugal, English as in Ireland).
var cldrLocale = map[string]string{"pt": "pt-PT", "en": "en-IE", "nb": "nb", "ga": "ga", "mt": "mt"}

// FormatMoney prints an amount as a reader of lang writes it.
func (b *Bundle) FormatMoney(lang string, cents int64, code string) string {
	loc := lang
	if l, ok := cldrLocale[lang]; ok {
		loc = l
	}
	// Parley keeps every amount in hundredths; the currency's own minor unit
	// may differ (ISK and HUF print no decimals), so the amount goes in as a
	// decimal and CLDR decides how it is shown.
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	amt, err := currency.NewAmount(fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100), code)
	if err != nil {
		return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, code)
	}
	f := currency.NewFormatter(currency.NewLocale(loc))
	return f.Format(amt)
}

// compileDateLayouts parses every locale's DateFormat and DateFormatDay
// (the day without the time; "{{.Day}} {{.Month}} {{.Year}}" when a locale
// has none) once.
func (b *Bundle) compileDateLayouts(raw map[string]map[string]any) error {
	b.dateLayout, b.dayLayout = map[string]*template.Template{}, map[string]*template.Template{}
	for _, lang := range b.langs {
		for _, k := range []struct {
			id, def string
			into    map[string]*template.Template
		}{{"DateFormat", "", b.dateLayout}, {"DateFormatDay", "{{.Day}} {{.Month}} {{.Year}}", b.dayLayout}} {
			src, _ := raw[lang][k.id].(string)
			if src == "" {
				src = k.def
			}
			if src == "" {
				continue
			}
			t, err := template.New(lang).Option("missingkey=error").Parse(src)
			if err != nil {
				return fmt.Errorf("locale %s: %s: %w", lang, k.id, err)
			}
			k.into[lang] = t
		}
	}
	return nil
}

// LanguageName is the name of language lang as a reader of reader calls it
// ("Spaans" for a Dutch reader of Spanish), from CLDR through x/text.
func (b *Bundle) LanguageName(reader, lang string) string {
	n := display.Tags(language.Make(reader)).Name(language.Make(lang))
	if n == "" {
		return lang
	}
	return n
}

// FormatSize prints a byte count for a reader of lang with the unit symbols
// every language reads (B, kB, MB) and the language's decimal separator.
func (b *Bundle) FormatSize(lang string, n int64) string {
	sep := "."
	if b.decimalComma(lang) {
		sep = ","
	}
	return FormatSizeIn(sep, n)
}

// FormatSizeIn prints a byte count with sep as the decimal separator.
func FormatSizeIn(sep string, n int64) string {
	switch {
	case n >= 1<<20:
		return strings.Replace(fmt.Sprintf("%.1f MB", float64(n)/(1<<20)), ".", sep, 1)
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// decimalComma reports whether lang writes decimals after a comma (CLDR).
func (b *Bundle) decimalComma(lang string) bool {
	switch lang {
	case "en", "ga", "mt":
		return false
	}
	return true
}
