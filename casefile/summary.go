package casefile

import (
	"bytes"
	"html/template"
	"strings"
	"time"

	"parley/casestore"
)

var summaryTmpl = template.Must(template.New("summary").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.T.SummaryTitle}} {{.Case.ID}}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}code{font-size:.85em}</style>
</head><body>
<h1>{{.T.SummaryTitle}} {{.Case.ID}}: {{.Case.Title}}</h1>
<table>
<tr><th>{{.T.SummaryState}}</th><td>{{.Case.State}}</td></tr>
<tr><th>{{.T.SummaryOutcome}}</th><td>{{.Outcome}}</td></tr>
<tr><th>{{.T.SummaryOpened}}</th><td>{{.Opened}}</td></tr>
{{if not .Case.Closed.IsZero}}<tr><th>{{.T.SummaryClosed}}</th><td>{{.Closed}}</td></tr>{{end}}
</table>
<h2>{{.T.SummaryParties}}</h2>
<table>{{range .Parties}}<tr><th>{{.Role}}</th><td>{{.Name}}</td><td>{{.Email}}</td><td>{{.Lang}}</td></tr>{{end}}</table>
<h2>{{.T.SummaryComplaint}}</h2>
<table>{{range .Fields}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h2>{{.T.SummaryTimeline}}</h2>
<table><tr><th>#</th><th>UTC</th><th></th><th></th><th></th></tr>
{{range .Events}}<tr><td>{{.Seq}}</td><td>{{.Time.UTC.Format "2006-01-02 15:04:05"}}</td><td>{{.Kind}}</td><td>{{.Role}}</td><td>{{.Text}}</td></tr>
{{end}}</table>
<h2>{{.T.SummaryEvidence}}</h2>
<table>{{range .Evidence}}<tr><td>{{.Seq}}</td><td>{{.Name}}</td><td>{{.Sniffed}}</td><td>{{.Size}}</td><td><code>{{.SHA256}}</code></td></tr>{{end}}</table>
<h2>{{.T.SummaryFiles}}</h2>
<table>{{range .Files}}<tr><td>{{.Path}}</td><td><code>{{.SHA256}}</code></td></tr>{{end}}</table>
<p>{{.T.SummaryVerify}}</p>
</body></html>
`))

// summary renders summary.html in the mediator's language (or the default).
func (s Source) summary(c *casestore.Case, evs []casestore.Event, rows []casestore.Evidence, items []item) ([]byte, error) {
	lang := c.Mediator.Lang
	if lang == "" || !s.Locales.Supported(lang) {
		lang = s.Locales.Default()
	}
	t := map[string]string{}
	for _, id := range []string{"SummaryTitle", "SummaryState", "SummaryOutcome", "SummaryOpened", "SummaryClosed", "SummaryParties",
		"SummaryComplaint", "SummaryTimeline", "SummaryEvidence", "SummaryFiles", "SummaryVerify"} {
		t[id] = s.Locales.T(lang, id, nil)
	}
	label := func(id string) string {
		v := s.Locales.T(lang, id, nil)
		for i := 0; i < len(v); i++ {
			if v[i] == '|' {
				return v[:i]
			}
		}
		return v
	}
	f := c.Fields
	// Values as a reader of lang reads them: dates and amounts in its
	// notation, the wish and yes/no in its words.
	day := func(iso string) string {
		d, err := time.Parse("2006-01-02", iso)
		if err != nil {
			return iso
		}
		return s.Locales.FormatTime(lang, d.Add(12*time.Hour), true)
	}
	wants := f.Wants
	if other, ok := strings.CutPrefix(wants, "other: "); ok {
		wants = s.Locales.T(lang, "Want_other", nil) + ": " + other
	} else if wants != "" {
		wants = s.Locales.T(lang, "Want_"+wants, nil)
	}
	contacted := map[string]string{"yes": s.Locales.T(lang, "WordYesShown", nil), "no": s.Locales.T(lang, "WordNoShown", nil)}[f.Contacted]
	fields := [][2]string{{label("LabelProblem"), f.Problem}, {label("LabelWantsShown"), wants}, {label("LabelOrderDate"), day(f.OrderDate)},
		{label("LabelOrderRef"), f.OrderRef}, {label("LabelContacted"), contacted}, {label("LabelComplainedOnShown"), day(f.ComplainedOn)}}
	if f.Amount > 0 {
		fields = append(fields, [2]string{label("LabelAmount"), s.Locales.FormatMoney(lang, f.Amount, f.Currency)})
	}
	outcome := ""
	if c.Outcome != "" {
		outcome = s.Locales.T(lang, "Outcome_"+c.Outcome, nil)
	}
	var files []File
	for _, it := range items {
		files = append(files, it.file)
	}
	var buf bytes.Buffer
	err := summaryTmpl.Execute(&buf, map[string]any{
		"Lang": lang, "T": t, "Case": c, "Outcome": outcome,
		"Opened": s.Locales.FormatTime(lang, c.Created, false), "Closed": s.Locales.FormatTime(lang, c.Closed, false), "Fields": fields, "Events": evs, "Evidence": rows, "Files": files,
		"Parties": []casestore.Party{c.Consumer, c.Trader, c.Mediator},
	})
	return buf.Bytes(), err
}
