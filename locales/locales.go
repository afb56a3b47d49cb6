// Package locales owns the translated text of every message Parley writes: one
// go-i18n TOML file per language (active.LANG.toml), embedded in the binary.
// Adding a language is adding a file; a test checks that every message id
// exists in every file. The files also carry per-language data Parley needs to
// read mail: intake field labels and a short list of common words used to
// guess a consumer's language from the text.
package locales

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed active.*.toml
var files embed.FS

// Bundle holds every locale. It is immutable after New and safe for concurrent use.
type Bundle struct {
	bundle     *i18n.Bundle
	langs      []string
	localizers map[string]*i18n.Localizer
	stopwords  map[string]map[string]bool
	// commonWords are each language's common words, shared ones included.
	commonWords map[string]map[string]bool
	fallback    string
	// zone is where dates are shown (the operator's time zone).
	zone       *time.Location
	dateLayout map[string]*template.Template
	dayLayout  map[string]*template.Template
	// variant picks message id+"_"+variant over id where it exists.
	variant string
	// counted are the ids with plural forms (a table of CLDR categories in
	// the English file); they are rendered with the data's PluralCount.
	counted map[string]bool
}

// Counted is data whose count picks a message's plural form, by the CLDR
// plural rules of the reader's language ("1 day", Polish "2 dni", "5 dni").
type Counted interface {
	PluralCount() int
}

// New loads the embedded locale files. fallback is used for unknown languages.
func New(fallback string) (*Bundle, error) {
	b := &Bundle{
		bundle:      i18n.NewBundle(language.English),
		localizers:  map[string]*i18n.Localizer{},
		stopwords:   map[string]map[string]bool{},
		commonWords: map[string]map[string]bool{},
		fallback:    fallback,
		zone:        time.UTC,
	}
	raw := map[string]map[string]any{}
	b.bundle.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	names, err := fs.Glob(files, "active.*.toml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if _, err := b.bundle.ParseMessageFileBytes(data, name); err != nil {
			return nil, fmt.Errorf("locale %s: %w", name, err)
		}
		lang := strings.TrimSuffix(strings.TrimPrefix(name, "active."), ".toml")
		b.langs = append(b.langs, lang)
		var m map[string]any
		if _, err := toml.Decode(string(data), &m); err != nil {
			return nil, fmt.Errorf("locale %s: %w", name, err)
		}
		raw[lang] = m
	}
	sort.Strings(b.langs)
	b.counted = map[string]bool{}
	for id, v := range raw["en"] {
		if _, ok := v.(map[string]any); ok {
			b.counted[id] = true
		}
	}
	for _, lang := range b.langs {
		// A message missing from a file (the tests forbid it) falls back to
		// the default language rather than showing its id.
		b.localizers[lang] = i18n.NewLocalizer(b.bundle, lang, fallback)
	}
	// Language guessing counts words that belong to one language only: its
	// common words, and its one-word form labels ("Handelaar", "Händler").
	owners := map[string]map[string]bool{}
	for _, lang := range b.langs {
		words := strings.Fields(b.T(lang, "Stopwords", nil))
		for _, id := range []string{"LabelTrader", "LabelOrderDate", "LabelOrderRef", "LabelAmount", "LabelProblem", "LabelWants", "LabelContacted", "WantRefund", "WantRepair", "WantReplacement"} {
			for _, alt := range strings.Split(b.T(lang, id, nil), "|") {
				if alt = strings.TrimSpace(alt); alt != "" && !strings.ContainsAny(alt, " -'") {
					words = append(words, alt)
				}
			}
		}
		for _, w := range words {
			w = strings.ToLower(w)
			if owners[w] == nil {
				owners[w] = map[string]bool{}
			}
			owners[w][lang] = true
			if b.commonWords[lang] == nil {
				b.commonWords[lang] = map[string]bool{}
			}
			b.commonWords[lang][w] = true
		}
	}
	for _, lang := range b.langs {
		b.stopwords[lang] = map[string]bool{}
	}
	for w, langs := range owners {
		if len(langs) == 1 {
			for lang := range langs {
				b.stopwords[lang][w] = true
			}
		}
	}
	if err := b.compileDateLayouts(raw); err != nil {
		return nil, err
	}
	if !b.Supported(fallback) {
		return nil, fmt.Errorf("default language %q has no locale file (have %s)", fallback, strings.Join(b.langs, " "))
	}
	return b, nil
}

// InZone returns the bundle showing dates in zone (the operator's time zone).
func (b *Bundle) InZone(zone *time.Location) *Bundle {
	c := *b
	c.zone = zone
	return &c
}

// ForBindingAdvice returns the bundle telling parties that the referral body
// gives binding advice rather than an arbitral award: every message that
// names the procedure has an id+"_advice" form that says so.
func (b *Bundle) ForBindingAdvice() *Bundle {
	c := *b
	c.variant = "advice"
	return &c
}

// Languages lists the supported language codes, sorted.
func (b *Bundle) Languages() []string { return append([]string(nil), b.langs...) }

// Supported reports whether lang has a locale file.
func (b *Bundle) Supported(lang string) bool { _, ok := b.localizers[lang]; return ok }

// Default is the fallback language.
func (b *Bundle) Default() string { return b.fallback }

// Match maps a language tag such as "nl-BE" or "de_DE" to a supported code, or "".
func (b *Bundle) Match(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	tag = strings.ReplaceAll(tag, "_", "-")
	if b.Supported(tag) {
		return tag
	}
	base, _, _ := strings.Cut(tag, "-")
	if b.Supported(base) {
		return base
	}
	// Norwegian: "no" and "nn" readers are served Bokmål.
	if (base == "no" || base == "nn") && b.Supported("nb") {
		return "nb"
	}
	return ""
}

// T renders message id in lang with data. Unknown languages use the fallback.
// Time and Money values in data print as a reader of lang reads them.
func (b *Bundle) T(lang, id string, data any) string {
	var count any
	if c, ok := data.(Counted); ok && b.counted[id] {
		count = c.PluralCount()
	}
	data = b.localize(lang, data)
	l, ok := b.localizers[lang]
	if !ok {
		l = b.localizers[b.fallback]
	}
	if b.variant != "" {
		if s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id + "_" + b.variant, TemplateData: data, PluralCount: count}); err == nil {
			return s
		}
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil {
		return "[" + id + "]"
	}
	return s
}

// localize prints the Time and Money values of data for lang.
func (b *Bundle) localize(lang string, data any) any {
	switch d := data.(type) {
	case Localizable:
		return d.Localize(b, lang)
	case map[string]any:
		out := make(map[string]any, len(d))
		for k, v := range d {
			switch x := v.(type) {
			case Time:
				v = b.LocalTime(lang, x)
			case Money:
				v = b.LocalMoney(lang, x)
			}
			out[k] = v
		}
		return out
	}
	return data
}

// Has reports whether lang's own file defines id (no fallback).
func (b *Bundle) Has(lang, id string) bool {
	_, tag, err := b.localizers[lang].LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id})
	return err == nil && tag.String() == language.Make(lang).String()
}

// MessageIDs lists the message ids of a locale file, sorted.
func MessageIDs(lang string) ([]string, error) {
	data, err := files.ReadFile("active." + lang + ".toml")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(m))
	for k := range m {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return ids, nil
}

// Labels returns label id's alternatives in every language, e.g. all words that
// may introduce the trader line of a complaint.
func (b *Bundle) Labels(id string) []string {
	seen := map[string]bool{}
	var out []string
	for _, lang := range b.langs {
		for _, l := range strings.Split(b.T(lang, id, nil), "|") {
			l = strings.TrimSpace(l)
			if l != "" && !seen[strings.ToLower(l)] {
				seen[strings.ToLower(l)] = true
				out = append(out, l)
			}
		}
	}
	return out
}

// detectByWords guesses the language of text by counting common words; it
// returns "" when the text is too short or no language stands out.
func (b *Bundle) detectByWords(text string) string {
	counts := map[string]int{}
	n := 0
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		n++
		if n > 2000 {
			break
		}
		for lang, words := range b.stopwords {
			if words[w] {
				counts[lang]++
			}
		}
	}
	best, second := "", 0
	for _, lang := range b.langs {
		if best == "" || counts[lang] > counts[best] {
			if best != "" {
				second = counts[best]
			}
			best = lang
		} else if counts[lang] > second {
			second = counts[lang]
		}
	}
	if best == "" || counts[best] < 2 || counts[best] < 2*second {
		return ""
	}
	return best
}
