package locales

import (
	"strings"
	"testing"
)

// First users' languages; the full EU set comes later and needs only files.
var required = []string{"de", "en", "fr", "it", "nb", "nl", "pl"}

func TestEveryMessageInEveryLocale(t *testing.T) {
	b, err := New("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range required {
		if !b.Supported(l) {
			t.Errorf("language %s has no locale file", l)
		}
	}
	want, err := MessageIDs("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range b.Languages() {
		got, err := MessageIDs(lang)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, id := range got {
			have[id] = true
		}
		for _, id := range want {
			if !have[id] {
				t.Errorf("%s lacks message %s", lang, id)
			}
			delete(have, id)
		}
		for id := range have {
			t.Errorf("%s has message %s that en lacks", lang, id)
		}
	}
}

func TestMatchAndDetect(t *testing.T) {
	b, _ := New("en")
	for tag, want := range map[string]string{"nl-BE": "nl", "de_DE": "de", "no": "nb", "NB": "nb", "xx": "", "fr": "fr"} {
		if got := b.Match(tag); got != want {
			t.Errorf("Match(%q) = %q, want %q", tag, got, want)
		}
	}
	texts := map[string]string{
		"en": "I ordered a kettle and it arrived broken. The shop does not answer my emails and I want my money back.",
		"nl": "Ik heb een waterkoker besteld en hij is kapot aangekomen. De winkel reageert niet op mijn mails en ik wil mijn geld terug.",
		"de": "Ich habe einen Wasserkocher bestellt und er ist kaputt angekommen. Der Shop antwortet nicht auf meine E-Mails und ich möchte mein Geld zurück.",
		"fr": "J'ai commandé une bouilloire et elle est arrivée cassée. Le magasin ne répond pas à mes courriels et je veux être remboursé.",
		"it": "Ho ordinato un bollitore ed è arrivato rotto. Il negozio non risponde alle mie email e voglio i miei soldi indietro.",
		"pl": "Zamówiłem czajnik i przyszedł uszkodzony. Sklep nie odpowiada na moje wiadomości i chcę zwrotu pieniędzy, bo to jest dla mnie bardzo ważne.",
		"nb": "Jeg bestilte en vannkoker, og den kom i stykker. Butikken svarer ikke på e-postene mine, og jeg vil ha pengene mine tilbake.",
	}
	for want, text := range texts {
		if got := b.Detect(text); got != want {
			t.Errorf("Detect(%s text) = %q", want, got)
		}
	}
	for text, want := range map[string]string{
		"Handelaar: info@bakker.example\nMijn bestelling is kapot aangekomen.": "nl",
		"Händler: shop@laden.example\nMeine Bestellung ist kaputt angekommen.": "de",
	} {
		if got := b.Detect(text); got != want {
			t.Errorf("Detect(%q) = %q, want %q", text, got, want)
		}
	}
	if got := b.Detect("ok"); got != "" {
		t.Errorf("Detect of a one-word text should not guess, got %q", got)
	}
}

func TestTraderLabelsInEveryLanguage(t *testing.T) {
	b, _ := New("en")
	labels := strings.Join(b.Labels("LabelTrader"), "|")
	for _, w := range []string{"Trader", "Handelaar", "Händler"} {
		if !strings.Contains(labels, w) {
			t.Errorf("label %s missing from %s", w, labels)
		}
	}
}
