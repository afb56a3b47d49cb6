package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/translate/apytest"
)

// Machine translation between a Spanish consumer and an English shop, with
// Debian's apertium-apy as the engine (CI installs apertium-apy and
// apertium-eng-spa): each reads the other in their language, with the
// original below; when the engine stops, the original still arrives, with a
// note.

func TestTranslationBetweenParties(t *testing.T) {
	apy, stopAPY := apytest.Start(t)
	cfg := procClocks("trader_window", "60s", "trader_reminder", "1s")
	s := newSink(t)
	s.Start()
	d := newDaemonWithConfig(t, s.addr, procConfig(cfg)+fmt.Sprintf("\n[translation]\nengine = \"apertium\"\nurl = %q\ntimeout = \"3s\"\n", apy))
	d.Start()
	d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "en")
	e := &procEnv{env: &env{t: t, sink: s, d: d}, cfg: cfg}

	const consumer = "ana@consumer.example"
	e.send("Ana García <"+consumer+">", consumer, intakeAddr, "Hervidor roto",
		"El hervidor llegó roto y quiero un reembolso. La tienda no contesta.\n", header{"Content-Language", "es"})
	notice := s.WaitFor(20*time.Second, "trader notice", func(m *sinkMsg) bool {
		return m.To(traderEmail) && strings.Contains(m.Text, "El hervidor llegó roto")
	})
	id := notice.CaseID()
	// The shop reads a labelled machine translation first, then the original.
	tr := strings.Index(notice.Text, "Machine translation from Spanish; the original follows.")
	orig := strings.Index(notice.Text, "El hervidor llegó roto")
	if tr < 0 || tr > orig || !strings.Contains(strings.ToLower(notice.Text[tr:orig]), "broken") {
		t.Fatalf("trader notice without the translation first:\n%s", notice.Text)
	}

	// The shop answers in English: the consumer reads Spanish first.
	e.reply(traderName, traderEmail, notice, "We are sorry. We will send you a new kettle tomorrow.")
	relay := e.mailTo(20*time.Second, "relay to the consumer", id, consumer, "We will send you a new kettle tomorrow.")
	tr = strings.Index(relay.Text, "Traducción automática")
	orig = strings.Index(relay.Text, "We will send you a new kettle tomorrow.")
	if tr < 0 || tr > orig || !strings.Contains(strings.ToLower(relay.Text[tr:orig]), "mañana") {
		t.Fatalf("relay without the Spanish translation first:\n%s", relay.Text)
	}
	if c := d.MustCase(id); c.Party("consumer").Lang != "es" {
		t.Fatalf("consumer language %q", c.Party("consumer").Lang)
	}

	// The engine stops: the original still arrives, at once, with a note.
	stopAPY()
	sent := time.Now()
	e.reply(traderName, traderEmail, notice, "The kettle is on its way. TRACK-4711")
	relay = e.mailTo(20*time.Second, "relay without translation", id, consumer, "TRACK-4711")
	if !strings.Contains(relay.Text, "No había traducción automática") && !strings.Contains(relay.Text, "traducción automática") {
		t.Fatalf("relay without the note:\n%s", relay.Text)
	}
	if took := time.Since(sent); took > 15*time.Second {
		t.Errorf("the relay waited %s for a stopped engine", took)
	}
}
