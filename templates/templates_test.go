package templates

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/locales"
)

var iso = regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)

func TestEveryTemplateRendersInEveryLanguage(t *testing.T) {
	b, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("arbitration", func(t *testing.T) { renderEveryLanguage(t, b) })
	t.Run("binding advice", func(t *testing.T) { renderEveryLanguage(t, b.ForBindingAdvice()) })
}

func renderEveryLanguage(t *testing.T, b *locales.Bundle) {
	s, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	d := Data{CaseID: "K7Q-4M2P", Trader: "Acme Shop", Name: "Jan", Deadline: locales.Time{At: due}, End: locales.Time{At: due.Add(48 * time.Hour)},
		Since: locales.Time{At: due.Add(-48 * time.Hour)}, Date: locales.Time{At: due, Day: true}, From: "x@example.org",
		Amount: locales.Money{Cents: 4995, Currency: "EUR"}, Fee: locales.Money{Cents: 2500, Currency: "EUR"},
		Text:        "{{.CaseID}} is not a template here",
		Attachments: []Attachment{{Name: "photo.jpg", Size: 2048, SHA256: strings.Repeat("ab", 32)}},
		Intro:       "ClosedIntro", Lines: []string{"a line"}, Choices: []Option{{Label: "Choose", Address: "x@d.test"}}}
	english := map[string]map[string]bool{} // template -> its English sentences
	for _, name := range All {
		out, err := s.Render(name, "en", d)
		if err != nil {
			t.Fatal(err)
		}
		english[name] = map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			// The parties' words and the data are the same in every language.
			if len(strings.Fields(line)) >= 4 && !strings.ContainsAny(line, "{}@") && !strings.Contains(line, "SHA-256") {
				english[name][strings.TrimSpace(line)] = true
			}
		}
	}
	for _, lang := range b.Languages() {
		for _, name := range All {
			out, err := s.Render(name, lang, d)
			if err != nil {
				t.Errorf("%s/%s: %v", name, lang, err)
				continue
			}
			if strings.Contains(out, "\n[") || strings.HasPrefix(out, "[") {
				t.Errorf("%s/%s has an untranslated id: %s", name, lang, out)
			}
			if strings.Contains(out, "<no value>") {
				t.Errorf("%s/%s prints <no value>: %s", name, lang, out)
			}
			if name == Relay || name == TraderNote {
				if !strings.Contains(out, "{{.CaseID}} is not a template here") {
					t.Errorf("%s/%s changed the party's words:\n%s", name, lang, out)
				}
				if !strings.Contains(out, "photo.jpg (2 kB, SHA-256 abab") {
					t.Errorf("%s/%s lacks the attachment list:\n%s", name, lang, out)
				}
			}
			if !strings.Contains(out, "K7Q-4M2P") {
				t.Errorf("%s/%s does not name the case", name, lang)
			}
			if lang != "en" {
				for _, line := range strings.Split(out, "\n") {
					if english[name][strings.TrimSpace(line)] {
						t.Errorf("%s/%s has an English sentence: %q", name, lang, line)
					}
				}
			}
			// No machine timestamps or amounts in a localised mail.
			if iso.MatchString(out) || strings.Contains(out, "49.95 EUR") {
				t.Errorf("%s/%s shows an ISO date or a raw amount:\n%s", name, lang, out)
			}
		}
	}
}

// BenchmarkRenderRelay renders the relay of a party's message, the mail
// Parley writes most.
func BenchmarkRenderRelay(b *testing.B) {
	bundle, err := locales.New("en")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(bundle)
	if err != nil {
		b.Fatal(err)
	}
	d := Data{CaseID: "K7Q-4M2P", Trader: "Acme Shop", Name: "Jan", Text: "We are sending a new kettle tomorrow.",
		Attachments: []Attachment{{Name: "photo.jpg", Size: 2048, SHA256: strings.Repeat("ab", 32)}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Render(Relay, "nl", d); err != nil {
			b.Fatal(err)
		}
	}
}

// Renders run at once in several languages share pooled clones of the
// templates; each must come out exactly as it does alone (run with -race).
func TestConcurrentRendersKeepTheirLanguage(t *testing.T) {
	b, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	langs := b.Languages()
	want := map[string]string{}
	for i, lang := range langs {
		d := Data{CaseID: "K7Q-4M2P", Trader: "Shop " + lang, Deadline: locales.Time{At: due.Add(time.Duration(i) * time.Hour)},
			Amount: locales.Money{Cents: int64(100 + i), Currency: "EUR"}, Text: "text " + lang}
		out, err := s.Render(Relay, lang, d)
		if err != nil {
			t.Fatal(err)
		}
		want[lang] = out
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				i := (w*7 + k) % len(langs)
				lang := langs[i]
				d := Data{CaseID: "K7Q-4M2P", Trader: "Shop " + lang, Deadline: locales.Time{At: due.Add(time.Duration(i) * time.Hour)},
					Amount: locales.Money{Cents: int64(100 + i), Currency: "EUR"}, Text: "text " + lang}
				out, err := s.Render(Relay, lang, d)
				if err != nil {
					t.Error(err)
					return
				}
				if out != want[lang] {
					t.Errorf("%s rendered concurrently:\n%s\nalone:\n%s", lang, out, want[lang])
					return
				}
			}
		}(w)
	}
	wg.Wait()
}
