package procedure

import (
	"strings"
	"testing"

	"parley/casestore"
	"parley/route"
)

// Reading what people write: amounts in every notation, asked back when two
// readings fit (issue "Read people as they write").

func TestAmountsKeepEveryDigit(t *testing.T) {
	for _, tc := range []struct {
		lang, line string
		cents      int64
		currency   string
	}{
		{"en", "Amount: 30000.00 EUR", 3000000, "EUR"},
		{"en", "Amount: 1500 EUR", 150000, "EUR"},
		{"en", "Amount: EUR 12000.50", 1200050, "EUR"},
		{"nl", "Bedrag: 25.000 EUR", 2500000, "EUR"},
		{"nl", "Bedrag: € 1.499,95", 149995, "EUR"},
		{"pl", "Kwota: 1 299,00 zł", 129900, "PLN"},
		{"de", "Betrag: 349,- €", 34900, "EUR"},
	} {
		_, f, unclear := newEnv(t).e.reader.read("It broke.\n"+tc.line+"\n", tc.lang)
		if f.Amount != tc.cents || f.Currency != tc.currency || len(unclear) != 0 {
			t.Errorf("%s %q: %d %s %v, want %d %s", tc.lang, tc.line, f.Amount, f.Currency, unclear, tc.cents, tc.currency)
		}
	}
}

// An English complaint saying "1.500 EUR" opens the case, records no amount
// and asks which was meant; the consumer's answer is recorded and confirmed.
func TestAmbiguousAmountAskedBack(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), "From: Jan <jan@consumer.example>\nSubject: Broken\n\nThe kettle arrived broken and I want a refund of the 1.500 EUR I paid.\n")
	c := ev.onlyCase()
	if c.State != casestore.StateOpen || c.Fields.Amount != 0 {
		t.Fatalf("state %s, amount %d: a guess was recorded", c.State, c.Fields.Amount)
	}
	out := ev.take()
	confirm := to(out, route.Consumer)[0].env.Text
	if !strings.Contains(confirm, `"1.500 EUR"`) || !strings.Contains(confirm, "1500.00 EUR / 1.50 EUR") || !strings.Contains(confirm, "\nAmount: ") {
		t.Fatalf("not asked which amount:\n%s", confirm)
	}
	if tn := to(out, route.Trader)[0].env.Text; strings.Contains(tn, "1.50 EUR") || strings.Contains(tn, "1500.00") {
		t.Fatal("the trader was told a guessed amount")
	}
	ev.consumerWrites(c, "Amount: 1500 EUR")
	if c = ev.caseNow(c.ID); c.Fields.Amount != 150000 {
		t.Fatalf("answer not recorded: %d", c.Fields.Amount)
	}
	out = ev.take()
	if kinds(out) != "relay>trader notice>consumer" || !strings.Contains(out[1].env.Text, "Amount: 1500.00 EUR") {
		t.Fatalf("answer not confirmed: %q", kinds(out))
	}
	// The same question later in the case: asked again, nothing changes.
	ev.consumerWrites(c, "Amount: 2.500 EUR")
	out = ev.take()
	if kinds(out) != "relay>trader notice>consumer" || !strings.Contains(out[1].env.Text, "2500.00 EUR / 2.50 EUR") {
		t.Fatalf("second unclear amount: %q\n%s", kinds(out), out[len(out)-1].env.Text)
	}
	if ev.caseNow(c.ID).Fields.Amount != 150000 {
		t.Fatal("an unclear amount replaced a clear one")
	}
}

// A fill-in form names an unclear amount next to its line.
func TestAmbiguousAmountInTheForm(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), "From: jan@consumer.example\nSubject: help\n\nI paid 1.500 EUR and it never came.\n")
	form := ev.take()[0].env.Text
	if !strings.Contains(form, `Amount:    (you wrote "1.500 EUR": 1500.00 EUR / 1.50 EUR?)`) {
		t.Fatalf("form:\n%s", form)
	}
}

func TestMediatorSetAmbiguousAmount(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(complaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#set amount 1.500 EUR")
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "could mean 1500.00 EUR / 1.50 EUR") {
		t.Fatalf("sent %q", kinds(out))
	}
	if ev.caseNow(c.ID).Fields.Amount != 0 {
		t.Fatal("an ambiguous #set was recorded")
	}
}
