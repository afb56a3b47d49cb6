package procedure

import (
	"strings"
	"testing"

	"parley/locales"
)

// readBenchTexts are complaints as intake reads them: a consumer's own words,
// a filled-in form, and the filler a load generator (smtp-source) sends.
var readBenchTexts = map[string]struct{ lang, text string }{
	"prose-en": {"en", strings.Repeat("Hello, I ordered a kettle from your shop on 3 October 2026, order number A-4711, and paid 89,95 EUR. "+
		"It leaks after two weeks. I wrote to the shop on 20 October but nobody answered. I want my money back, not a repair. "+
		"Please help me, I have the receipt and photos of the damage.\n\n", 4)},
	"prose-de": {"de", strings.Repeat("Guten Tag, am 3. Oktober 2026 habe ich bei Ihnen einen Wasserkocher bestellt, Bestellnummer 4711, und 89,95 EUR bezahlt. "+
		"Nach zwei Wochen ist er undicht. Ich habe mich am 20. Oktober beim Händler beschwert, aber keine Antwort bekommen. "+
		"Ich möchte mein Geld zurück, keine Reparatur.\n\n", 4)},
	"form-en": {"en", "Shop: acme\nOrder number: A-4711\nOrder date: 2026-10-03\nAmount: 89.95 EUR\nWhat went wrong: the kettle leaks\n" +
		"What you want: refund\nContacted the shop: yes\nComplained on: 2026-10-20\n"},
	"filler": {"en", strings.Repeat("1"+strings.Repeat("X", 78)+"\n", 26)},
}

// BenchmarkRead is intake's reading of one complaint's text (fields, wishes,
// dates), the part of opening a case that grows with the text.
func BenchmarkRead(b *testing.B) {
	r, _ := englishReader(b)
	for _, name := range []string{"prose-en", "prose-de", "form-en", "filler"} {
		in := readBenchTexts[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in.text)))
			for b.Loop() {
				r.read(in.text, in.lang)
			}
		})
	}
}

// BenchmarkDetect is the language detection intake runs on a complaint.
func BenchmarkDetect(b *testing.B) {
	loc, err := locales.New("en")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"prose-en", "prose-de", "filler"} {
		in := readBenchTexts[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				loc.Detect(in.text)
			}
		})
	}
}
