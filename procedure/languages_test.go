package procedure

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"

	"parley/casestore"
	"parley/locales"
	"parley/route"
)

// How a party's language is chosen: the complaint address, Content-Language,
// the text, a LANGUAGE reply; a language Parley does not speak gets English
// with a line in the writer's own.
func TestChoosingTheLanguage(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("ana@consumer.example", route.IntakeIn("acme", "es"), "From: ana@consumer.example\nSubject: Roto\n\nThe kettle arrived broken, I want a refund.\n")
	if c := ev.onlyCase(); c.Consumer.Lang != "es" {
		t.Fatalf("acme.es@ chose %s", c.Consumer.Lang)
	}
	out := ev.take()
	if got := out[0].env.GetHeader("Content-Language"); got != "es" {
		t.Fatalf("confirmation in %s", got)
	}

	ev = newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), "From: jan@consumer.example\nContent-Language: fr-BE\nSubject: x\n\nThe kettle arrived broken, I want a refund.\n")
	c := ev.onlyCase()
	if c.Consumer.Lang != "fr" {
		t.Fatalf("Content-Language fr-BE gave %s", c.Consumer.Lang)
	}
	ev.take()
	ev.consumerWrites(c, "LANGUAGE de")
	if c = ev.caseNow(c.ID); c.Consumer.Lang != "de" {
		t.Fatalf("LANGUAGE de gave %s", c.Consumer.Lang)
	}
	out = ev.take()
	if kinds(out) != "notice>consumer" || out[0].env.GetHeader("Content-Language") != "de" || !strings.Contains(out[0].env.Text, "Deutsch") {
		t.Fatalf("language change: %q\n%s", kinds(out), out[0].env.Text)
	}

	ev = newEnv(t)
	ev.deliver("emre@consumer.example", route.Intake("acme"), "From: emre@consumer.example\nSubject: Sipariş\n\nSu ısıtıcısı kırık geldi ve mağaza e-postalarıma cevap vermiyor. Param geri istiyorum.\n")
	c = ev.onlyCase()
	if c.Consumer.Lang != "en" {
		t.Fatalf("Turkish writer answered in %s", c.Consumer.Lang)
	}
	out = ev.take()
	first := to(out, route.Consumer)[0].env.Text
	if !strings.HasPrefix(first, locales.Unsupported["tr"]) {
		t.Fatalf("no Turkish line on the first mail:\n%s", first)
	}
	// And on every later mail, notices and relays alike.
	ev.deliver("emre@consumer.example", route.Party(c.ID, route.Consumer), "From: emre@consumer.example\nSubject: Re\n\nSipariş numarası 4711, tutar 49 euro.\n")
	ev.deliver("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\nWe will send a new kettle.\n")
	for _, s := range to(ev.take(), route.Consumer) {
		if !strings.HasPrefix(s.env.Text, locales.Unsupported["tr"]) {
			t.Errorf("%s to the Turkish writer lacks the Turkish line:\n%s", s.o.Kind, s.env.Text)
		}
	}
}

// Every language, through a path that sends the mails a consumer and a shop
// get most: valid MIME, the reader's Content-Language, UTF-8, dates and
// amounts in the reader's notation, no template gaps (checked by take).
func TestEveryLanguageEndToEnd(t *testing.T) {
	langs := newEnv(t).e.loc.Languages()
	if len(langs) < 26 {
		t.Logf("only %d languages so far", len(langs))
	}
	for _, lang := range langs {
		t.Run(lang, func(t *testing.T) {
			ev := newEnv(t)
			ev.store.Update(func(tx *casestore.Tx) error {
				tr, _ := tx.Trader("acme")
				tr.Lang = lang
				return tx.PutTrader(tr)
			})
			ev.addMediator("mia@mediators.example", "Mia")
			ev.deliver("jan@consumer.example", route.Intake("acme"), "From: jan@consumer.example\nContent-Language: "+lang+"\nSubject: x\n\nThe kettle arrived broken and I want a refund.\nAmount: 1499.95 EUR\n")
			c := ev.onlyCase()
			all := ev.take()
			ev.advance(7 * day)
			all = append(all, ev.take()...)
			ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
			ev.traderWrites(c, "ok")
			ev.mediatorWrites(c, "mia@mediators.example", "#propose\nA new kettle.")
			ev.advance(15 * day)
			ev.mediatorWrites(c, "mia@mediators.example", "#close unresolved")
			all = append(all, ev.take()...)
			money := ev.e.loc.FormatMoney(lang, 149995, "EUR")
			sawMoney := false
			for _, s := range all {
				e, err := enmime.ReadEnvelope(bytes.NewReader([]byte(s.raw)))
				if err != nil {
					t.Fatalf("%s to %s: not valid MIME: %v", s.o.Kind, s.o.Role, err)
				}
				for _, pe := range e.Errors {
					// enmime also warns when its charset guess differs from the
					// declared UTF-8 on short texts; only severe errors count.
					if pe.Severe {
						t.Errorf("%s to %s: %v", s.o.Kind, s.o.Role, pe)
					}
				}
				want := lang
				if s.o.Role == route.Mediator {
					want = "en"
				}
				if got := e.GetHeader("Content-Language"); got != want {
					t.Errorf("%s to %s: Content-Language %q, want %q", s.o.Kind, s.o.Role, got, want)
				}
				if ct := e.GetHeader("Content-Type"); !strings.Contains(strings.ToLower(ct), "utf-8") && !strings.HasPrefix(ct, "multipart/") {
					t.Errorf("%s to %s: %s", s.o.Kind, s.o.Role, ct)
				}
				sawMoney = sawMoney || strings.Contains(e.Text, money)
				if strings.Contains(e.Text, "1499.95 EUR") && s.o.Kind != "relay" && s.o.Kind != "trader_notice" {
					t.Errorf("%s to %s shows the raw amount", s.o.Kind, s.o.Role)
				}
			}
			if !sawMoney {
				t.Errorf("no mail shows %q", money)
			}
		})
	}
}

// Every clock has a name in every language (#status lists the ones ahead).
func TestEveryClockNamed(t *testing.T) {
	loc := newEnv(t).e.loc
	for _, lang := range loc.Languages() {
		for _, k := range clocks {
			if !loc.Has(lang, "Clock_"+k.name()) {
				t.Errorf("%s has no Clock_%s", lang, k.name())
			}
		}
	}
}
