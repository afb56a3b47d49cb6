// Package templates owns the layout of every message Parley writes. The
// templates are embedded text/template files that hold no language of their own:
// every sentence comes from the locales bundle through the t function, so a
// template works in every language that has a locale file.
//
// Text the parties wrote is passed in Data.Text and printed as written; it is
// never interpreted as a template. Headers are not built here (see procedure),
// so nothing a party writes can become a header.
package templates

import (
	"embed"
	"fmt"
	"strings"
	"sync"
	"text/template"

	"parley/locales"
)

//go:embed text/*.txt
var files embed.FS

// Names of the templates.
const (
	Confirm     = "confirm"
	NeedInfo    = "need_info"
	TraderNote  = "trader_notice"
	Relay       = "relay"
	Quarantine  = "quarantine"
	Reminder    = "reminder"
	WindowEnded = "window_ended"
	Choice      = "choice"
	Extended    = "extended"
	Notice      = "notice"    // Intro plus Lines: short notices
	Mediation   = "mediation" // Intro, optional Text, Lines
	Proposal    = "proposal"
	Closed      = "closed"
	Referral    = "referral" // the cover letter to the arbitration body
)

// All lists every template, for tests.
var All = []string{Confirm, NeedInfo, TraderNote, Relay, Quarantine, Reminder, WindowEnded, Choice, Extended, Notice, Mediation, Proposal, Closed, Referral}

// Option is a choice with its address, printed as a mailto link.
type Option struct {
	Label   string
	Address string
}

// Attachment is an entry of the attachment list printed under a message.
type Attachment struct {
	Name   string
	Size   int64
	SHA256 string
	Held   bool // kept as evidence, not forwarded
}

// Data is everything a template may print.
type Data struct {
	CaseID      string
	Trader      string       // trader's display name
	Name        string       // the writing party's display name (relays)
	Deadline    locales.Time // the deadline the pending timer fires at
	End         locales.Time // the mediation's end
	Since       locales.Time // last activity (the mediator's reminder)
	Date        locales.Time // a day or moment, e.g. when the consumer first complained
	From        string       // offending sender (quarantine)
	Text        string       // the party's own words, unchanged
	Attachments []Attachment
	Title       string
	Intro       string   // message id of the opening sentence (generic templates)
	Lines       []string // extra lines, already localised
	// Understood are the complaint's fields as Parley read them, shown back
	// to the consumer so a misreading is seen and corrected.
	Understood []string
	Choices    []Option
	Keywords   string
	Outcome    string
	Fee        locales.Money
	Amount     locales.Money
	Min, Max   locales.Money
	Currency   string
	Days       int
	Answer     string
	Service    string // the service's name ([procedure] service_name)
	Body       string // the arbitration body's name
	URL        string // where the consumer files the claim
	MoreHelp   string // where else a consumer may turn
	File       string // the case file's name, size and SHA-256 (referral)
	Size       string
	Options    string // the readings of an unclear value
	Choice     string // a choice as offered, e.g. "I want mediation by an independent mediator"
	// Translation is a machine translation of Text into the reader's
	// language, from TranslationFrom; TranslationFailed: none could be made.
	Translation       string
	TranslationFrom   string
	TranslationFailed bool
	ForMediator       bool   // the reader is the mediator (relay footer)
	InMediation       bool   // the mediator reads along (relay footer)
	Closed            bool   // the case is closed: replies are not passed on
	Seq               uint64 // event number and hash of the record's head (closing notice)
	Hash              string
}

// PluralCount picks the plural form of a counted message ("365 days"): Days
// is the one count a message shows.
func (d Data) PluralCount() int { return d.Days }

var _ locales.Counted = Data{}

// Localize returns d with its times and amounts as a reader of lang reads
// them (locales.Localizable).
func (d Data) Localize(b *locales.Bundle, lang string) any {
	for _, t := range []*locales.Time{&d.Deadline, &d.End, &d.Since, &d.Date} {
		*t = b.LocalTime(lang, *t)
	}
	for _, m := range []*locales.Money{&d.Fee, &d.Amount, &d.Min, &d.Max} {
		if m.Currency != "" {
			*m = b.LocalMoney(lang, *m)
		}
	}
	return d
}

// Set is the parsed templates plus the locale bundle.
type Set struct {
	base    *template.Template
	locales *locales.Bundle
	// renderers are clones of base whose functions read the language and
	// data of the render under way: cloning the whole set for every render
	// to bind them was a seventh of the time a relay took to render.
	renderers sync.Pool
}

// renderer is one clone of the templates; a render holds it alone.
type renderer struct {
	t    *template.Template
	lang string
	data Data
}

func (s *Set) renderer() (*renderer, error) {
	if r, ok := s.renderers.Get().(*renderer); ok {
		return r, nil
	}
	t, err := s.base.Clone()
	if err != nil {
		return nil, err
	}
	r := &renderer{t: t}
	t.Funcs(template.FuncMap{"t": func(id string) string { return s.locales.T(r.lang, id, r.data) },
		"size": func(n int64) string { return s.locales.FormatSize(r.lang, n) }})
	return r, nil
}

// New parses the embedded templates.
func New(b *locales.Bundle) (*Set, error) {
	base := template.New("").Funcs(template.FuncMap{
		"t":    func(string) string { return "" },
		"size": Size, // replaced per language in Render
	})
	base, err := base.ParseFS(files, "text/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	return &Set{base: base, locales: b}, nil
}

// Render writes template name in lang.
func (s *Set) Render(name, lang string, d Data) (string, error) {
	r, err := s.renderer()
	if err != nil {
		return "", err
	}
	d = d.Localize(s.locales, lang).(Data)
	r.lang, r.data = lang, d
	var sb strings.Builder
	err = r.t.ExecuteTemplate(&sb, name+".txt", d)
	r.data = Data{} // holds no party's text while pooled
	s.renderers.Put(r)
	if err != nil {
		return "", fmt.Errorf("render %s/%s: %w", name, lang, err)
	}
	// Normalise to CRLF later, at the MIME layer; here: no trailing blank lines.
	return strings.TrimRight(sb.String(), "\n") + "\n", nil
}

// T exposes the locale bundle for headers (display names, titles).
func (s *Set) T(lang, id string, data any) string { return s.locales.T(lang, id, data) }

// Size prints a byte count for people, with unit symbols every language
// reads ("442 B", "2 kB", "1.5 MB"); templates print it in the reader's
// notation (locales.FormatSize).
func Size(n int64) string { return locales.FormatSizeIn(".", n) }
