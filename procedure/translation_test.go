package procedure

import (
	"context"
	"strings"
	"sync"
	"testing"

	"parley/casestore"
	"parley/config"
	"parley/route"
)

// pairEngine stands in for a translation server (the real one, apertium-apy,
// runs in e2e/translation_test.go): it answers "[from>to] text" and records
// the pairs asked for.
type pairEngine struct {
	mu    sync.Mutex
	pairs []string
}

func (p *pairEngine) Name() string { return "test" }
func (p *pairEngine) Translate(_ context.Context, text, from, to string) (string, error) {
	p.mu.Lock()
	p.pairs = append(p.pairs, from+">"+to)
	p.mu.Unlock()
	return "[" + from + ">" + to + "] " + text, nil
}

// A text is translated from the language it is written in, not the one its
// writer chose; the mediator's briefing carries the complaint in the
// mediator's language too.
func TestTranslationFromTheTextsLanguage(t *testing.T) {
	ev := newEnvWith(t, func(p *config.Procedure) { referralBody(p); p.ArbitrationLang = "nl" })
	eng := &pairEngine{}
	ev.e.translator = eng
	ev.store.Update(func(tx *casestore.Tx) error {
		return tx.PutMediator(casestore.Mediator{Email: "mia@mediators.example", Name: "Mia", Lang: "de"})
	})
	// Chose Spanish (acme.es@), writes English; the shop reads Dutch.
	ev.deliver("ana@consumer.example", route.IntakeIn("acme", "es"), strings.Replace(eligibleComplaint, "Jan Jansen <jan@consumer.example>", "ana@consumer.example", 1))
	c := ev.onlyCase()
	var notice string
	for _, s := range ev.take() {
		if s.o.Role == route.Trader {
			notice = s.env.Text
		}
	}
	if !strings.Contains(notice, "[en>nl]") || strings.Contains(notice, "[es>") {
		t.Errorf("the shop's notice is not translated from English:\n%s", notice)
	}
	ev.advance(7 * day)
	ev.take()
	ev.choose(c, "ana@consumer.example", route.ChoiceMediation)
	var briefing string
	for _, s := range ev.take() {
		if s.o.Role == route.Mediator {
			briefing = s.env.Text
		}
	}
	if !strings.Contains(briefing, "[en>de] The kettle arrived broken") {
		t.Errorf("the German mediator's briefing lacks the complaint in German:\n%s", briefing)
	}
	// The shop answers in English although it reads Dutch: the Spanish
	// consumer gets it from English; the German mediator too.
	ev.traderWrites(c, "We are very sorry about the kettle and will send a new one this week.")
	for _, s := range ev.take() {
		want := map[route.Role]string{route.Consumer: "[en>es]", route.Mediator: "[en>de]"}[s.o.Role]
		if want != "" && !strings.Contains(s.env.Text, want) {
			t.Errorf("relay to %s lacks %s:\n%s", s.o.Role, want, s.env.Text)
		}
	}
	// The Dutch body's cover letter: the complaint in Dutch, then as written.
	ev.mediatorWrites(c, "mia@mediators.example", "#refer")
	ev.advance(day)
	letters := 0
	for _, s := range ev.take() {
		if s.o.Kind == "referral" {
			letters++
			if !strings.Contains(s.env.Text, "[en>nl] The kettle arrived broken") {
				t.Errorf("cover letter lacks the complaint in Dutch:\n%s", s.env.Text)
			}
		}
	}
	if letters != 1 {
		t.Errorf("%d cover letters", letters)
	}
}
