package procedure

import (
	"strings"
	"testing"
	"time"

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
	if !strings.Contains(confirm, `"1.500 EUR"`) || !strings.Contains(confirm, "€1,500.00 / €1.50") || !strings.Contains(confirm, "\nAmount: ") {
		t.Fatalf("not asked which amount:\n%s", confirm)
	}
	if tn := to(out, route.Trader)[0].env.Text; strings.Contains(tn, "1,50") || strings.Contains(tn, "1.500,00") || strings.Contains(tn, "Bedrag:") {
		t.Fatal("the trader was told a guessed amount")
	}
	ev.consumerWrites(c, "Amount: 1500 EUR")
	if c = ev.caseNow(c.ID); c.Fields.Amount != 150000 {
		t.Fatalf("answer not recorded: %d", c.Fields.Amount)
	}
	out = ev.take()
	if kinds(out) != "relay>trader notice>consumer" || !strings.Contains(out[1].env.Text, "Amount: €1,500.00") {
		t.Fatalf("answer not confirmed: %q", kinds(out))
	}
	// The same question later in the case: asked again, nothing changes.
	ev.consumerWrites(c, "Amount: 2.500 EUR")
	out = ev.take()
	if kinds(out) != "relay>trader notice>consumer" || !strings.Contains(out[1].env.Text, "€2,500.00 / €2.50") {
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
	if !strings.Contains(form, `Amount:    (you wrote "1.500 EUR": €1,500.00 / €1.50?)`) {
		t.Fatalf("form:\n%s", form)
	}
}

func TestMediatorSetAmbiguousAmount(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(complaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#set amount 1.500 EUR")
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "could mean €1,500.00 / €1.50") {
		t.Fatalf("sent %q", kinds(out))
	}
	if ev.caseNow(c.ID).Fields.Amount != 0 {
		t.Fatal("an ambiguous #set was recorded")
	}
}

// replyTo sends a party's reply threaded on a mail Parley sent.
func (ev *env) replyTo(c *casestore.Case, role route.Role, from string, to sent, body string) {
	ev.t.Helper()
	ev.deliver(from, route.Party(c.ID, role), "From: "+from+"\nSubject: Re\nIn-Reply-To: "+to.o.MessageID+"\n\n"+body+"\n")
}

const dutchComplaint = `From: Anouk Bakker <anouk@consumer.example>
Subject: Kapotte waterkoker
Content-Type: text/plain; charset=utf-8

Ik heb een waterkoker besteld en hij is kapot aangekomen. De winkel reageert niet op mijn mails en ik wil mijn geld terug.
Bedrag: 49,95 EUR
`

// A choice written in a sentence acts, is confirmed with how to undo it,
// and the rest of the sentence reaches the mediator and the shop.
func TestChoiceInASentence(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	ev.deliver("anouk@consumer.example", route.Intake("acme"), dutchComplaint)
	c := ev.onlyCase()
	if c.Consumer.Lang != "nl" {
		t.Fatalf("consumer language %s", c.Consumer.Lang)
	}
	ev.take()
	ev.advance(7 * day)
	choiceMail := to(ev.take(), route.Consumer)[0]
	ev.replyTo(c, route.Consumer, "anouk@consumer.example", choiceMail, "Bemiddeling graag, 20% korting is niet genoeg.")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateMediation, "")
	out := ev.take()
	got := kinds(out)
	if got != "mediation>consumer mediation>trader mediation>mediator notice>consumer relay>trader relay>mediator" {
		t.Fatalf("sent %q", got)
	}
	understood := out[3].env.Text
	for _, want := range []string{"Ik wil bemiddeling", "ONGEDAAN", ev.whenIn("nl", ev.now.Add(24*time.Hour))} {
		if !strings.Contains(strings.ToLower(understood), strings.ToLower(want)) {
			t.Errorf("confirmation lacks %q:\n%s", want, understood)
		}
	}
	if !strings.Contains(out[4].env.Text, "20% korting is niet genoeg") || !strings.Contains(out[5].env.Text, "20% korting is niet genoeg") {
		t.Error("the rest of the sentence did not reach the shop and the mediator")
	}
	// UNDO within the day: back to the choice, the others told.
	ev.advance(2 * time.Hour)
	ev.consumerWritesAs(c, "anouk@consumer.example", "ONGEDAAN")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateChoice, "")
	out = ev.take()
	if kinds(out) != "notice>trader notice>mediator choice>consumer" {
		t.Fatalf("undo sent %q", kinds(out))
	}
	if !strings.Contains(out[2].env.Text, ev.keys.ChoiceLocal(c.ID, route.ChoiceMediation)) {
		t.Error("the choices are not offered again")
	}
	if c.Mediator.Email != "" {
		t.Error("the mediator is still assigned after the undo")
	}
	// A second undo, or one after a day, does nothing.
	ev.consumerWritesAs(c, "anouk@consumer.example", "ONGEDAAN")
	if out := ev.take(); kinds(out) != "notice>consumer" {
		t.Fatalf("second undo: %q", kinds(out))
	}
}

func (ev *env) consumerWritesAs(c *casestore.Case, from, body string) {
	ev.t.Helper()
	ev.deliver(from, route.Party(c.ID, route.Consumer), "From: "+from+"\nSubject: Re\n\n"+body+"\n")
}

// A proposal accepted in sentences by both sides settles the case; what the
// shop wrote beyond "akkoord" reaches the consumer and the mediator.
func TestProposalAcceptedInSentences(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nAcme sends a new kettle.")
	ev.take()
	ev.traderWrites(c, "Akkoord. We sturen het nieuwe apparaat morgen.")
	out := ev.take()
	if kinds(out) != "notice>trader notice>consumer notice>mediator relay>consumer relay>mediator" || !strings.Contains(out[0].env.Text, "UNDO") && !strings.Contains(out[0].env.Text, "ONGEDAAN") {
		t.Fatalf("trader's acceptance: %q", kinds(out))
	}
	if c := ev.caseNow(c.ID); c.Proposal.Trader != "accepted" {
		t.Fatalf("proposal %+v", c.Proposal)
	}
	ev.consumerWrites(c, "Yes, I accept this proposal, thank you.")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeSettled)
	out = ev.take()
	if kinds(out) != "closed>consumer closed>trader closed>mediator notice>consumer" {
		t.Fatalf("consumer's acceptance: %q", kinds(out))
	}
}

// MEDIATION in the trader's window is answered with when it opens; the
// keyword alone is not relayed, a longer message is.
func TestMediationBeforeItOpens(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.consumerWrites(c, "MEDIATION")
	out := ev.take()
	if kinds(out) != "notice>consumer" || !strings.Contains(out[0].env.Text, ev.when(c.Deadline)) {
		t.Fatalf("sent %q", kinds(out))
	}
	expectState(t, ev.caseNow(c.ID), casestore.StateOpen, "")
	ev.consumerWrites(c, "MEDIATION\nYou still have not answered any of my emails about the broken kettle.")
	if out := ev.take(); kinds(out) != "notice>consumer relay>trader" {
		t.Fatalf("with a message: %q", kinds(out))
	}
}

// Two choices, or none where one was asked, are asked back; nothing is
// relayed, and the words are kept for the mediator.
func TestUnclearChoiceAskedBack(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := openCase(t, ev)
	ev.advance(7 * day)
	choiceMail := to(ev.take(), route.Consumer)[0]
	for _, text := range []string{"Resolved, or maybe mediation, I am not sure.", "It is not resolved at all.", "Thank you for your email."} {
		ev.replyTo(c, route.Consumer, "jan@consumer.example", choiceMail, text)
		out := ev.take()
		if kinds(out) != "choice>consumer" || !strings.Contains(out[0].env.Text, "could not tell") {
			t.Fatalf("%q: sent %q", text, kinds(out))
		}
		expectState(t, ev.caseNow(c.ID), casestore.StateChoice, "")
	}
	// A reply to the choice mail that names no option at all, but says
	// something to the shop, is passed on to it.
	ev.replyTo(c, route.Consumer, "jan@consumer.example", choiceMail, "Also: the shop still has not answered my emails. I would really like a replacement soon.")
	if out := ev.take(); kinds(out) != "relay>trader" {
		t.Fatalf("a message in reply to the choice mail: %q", kinds(out))
	}
	// A reply to a relay of the shop's words in the same state is a message.
	ev.traderWrites(c, "We will refund you tomorrow.")
	relay := ev.take()[0]
	ev.replyTo(c, route.Consumer, "jan@consumer.example", relay, "Thank you, I will wait for it.")
	if out := ev.take(); kinds(out) != "relay>trader" {
		t.Fatalf("reply to a relay: %q", kinds(out))
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	brief := to(ev.take(), route.Mediator)[0].env.Text
	if !strings.Contains(brief, "It is not resolved at all.") || !strings.Contains(brief, "kept, not passed on") {
		t.Errorf("the kept words are not in the mediator's briefing:\n%s", brief)
	}
}

// In the window, a message that mentions a choice among other things is a
// message, not a choice.
func TestPassingMentionIsAMessage(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.consumerWrites(c, "Partly resolved, but the screen is still broken and the cable is missing.")
	expectState(t, ev.caseNow(c.ID), casestore.StateOpen, "")
	if out := ev.take(); kinds(out) != "relay>trader" {
		t.Fatalf("sent %q", kinds(out))
	}
	ev.consumerWrites(c, "It is resolved now, thank you.")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeResolved)
}

// Intake reads the shop, the wish and the date of the first complaint
// from running text.
func TestIntakeReadsRunningText(t *testing.T) {
	for _, tc := range []struct {
		name, from, text        string
		email, traderName, lang string
		wants, complainedOn     string
	}{
		{"registered shop by address in running text", "kai@consumer.example",
			"Ich habe bei Acme Shop (support@acme.example) einen Wasserkocher bestellt. Er kam kaputt an und ich möchte eine Rückerstattung.",
			"support@acme.example", "Acme Shop", "nl", "refund", ""},
		{"registered shop by name, inflected wish", "ola@consumer.example",
			"Zamówiłam czajnik w sklepie Acme Shop i przyszedł uszkodzony. Chcę zwrotu pieniędzy.",
			"support@acme.example", "Acme Shop", "nl", "refund", ""},
		{"unregistered shop named as written, in its country's language", "jan@consumer.example",
			"Ik heb bij Fietsenwinkel Jansen (info@jansen.nl) een fiets gekocht. Het frame is gebroken en ik wil mijn geld terug.",
			"info@jansen.nl", "Fietsenwinkel Jansen", "nl", "refund", ""},
		{"a negated wish and the first complaint in a sentence", "jan@consumer.example",
			"My kettle from support@acme.example broke. I don't want a refund, I want a repair. I first complained to the shop on 2026-10-25.",
			"support@acme.example", "Acme Shop", "nl", "repair", "2026-10-25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEnv(t)
			ev.deliver(tc.from, route.Complaints(), "From: "+tc.from+"\nSubject: Problem\n\n"+tc.text+"\n")
			c := ev.onlyCase()
			if c.Trader.Email != tc.email || c.Trader.Name != tc.traderName || c.Trader.Lang != tc.lang {
				t.Errorf("trader %+v", c.Trader)
			}
			if c.Fields.Wants != tc.wants || c.Fields.ComplainedOn != tc.complainedOn {
				t.Errorf("fields %+v", c.Fields)
			}
			if c.State != casestore.StateOpen {
				t.Errorf("state %s", c.State)
			}
		})
	}
}

// A free-text answer to the fill-in form is merged, and the next form
// says what is still missing.
func TestFormAnsweredInFreeText(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), "From: jan@consumer.example\nSubject: help\n\nMy order never came.\n")
	c := ev.onlyCase()
	first := ev.take()[0].env.Text
	ev.consumerWrites(c, "I want my money back, please.")
	out := ev.take()
	if len(out) != 1 || out[0].env.Text == first || !strings.Contains(out[0].env.Text, "still missing") ||
		strings.Contains(out[0].env.Text, "What I want:") || !strings.Contains(out[0].env.Text, "Trader:") {
		t.Fatalf("second form:\n%s", out[0].env.Text)
	}
	ev.consumerWrites(c, "It was the shop Acme Shop.")
	c = ev.caseNow(c.ID)
	if c.State != casestore.StateOpen || c.Trader.Handle != "acme" || c.Fields.Wants != "refund" {
		t.Fatalf("case %s %+v %+v", c.State, c.Trader, c.Fields)
	}
}

// A shop's colleague may answer; from then on the colleague gets copies. A
// stranger is quarantined and told, in the shop's language, what to do.
func TestShopStaffAndStrangers(t *testing.T) {
	ev := newEnv(t)
	ev.store.Update(func(tx *casestore.Tx) error {
		tr, _ := tx.Trader("acme")
		tr.Staff = []casestore.Staff{{Email: "sanne@acme.example"}, {Email: "boss@acme.example", CC: true}}
		tr.Domains = []string{"acme-shop.example"}
		return tx.PutTrader(tr)
	})
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	c := ev.onlyCase()
	out := ev.take()
	if kinds(out) != "confirm>consumer trader_notice>trader trader_notice>trader" || out[2].o.To != "boss@acme.example" {
		t.Fatalf("opened: %q", kinds(out))
	}
	m := ev.deliver("sanne@acme.example", route.Party(c.ID, route.Trader), "From: Sanne <sanne@acme.example>\nSubject: Re\n\nWe will send a new one today.\n")
	if m.HasFlag(casestore.FlagQuarantined) || m.Role != route.Trader {
		t.Fatalf("colleague quarantined: %+v", m)
	}
	if out := ev.take(); kinds(out) != "relay>consumer" {
		t.Fatalf("colleague's answer: %q", kinds(out))
	}
	ev.consumerWrites(c, "Thank you, I am looking forward to it.")
	out = ev.take()
	var to []string
	for _, s := range out {
		to = append(to, s.o.To)
	}
	if strings.Join(to, " ") != "support@acme.example sanne@acme.example boss@acme.example" {
		t.Fatalf("relay to the shop went to %v", to)
	}
	// Any address at a bound domain speaks for the shop.
	if m := ev.traderWritesFrom(c, "piet@acme-shop.example", "Shipped."); m.HasFlag(casestore.FlagQuarantined) {
		t.Fatal("an address at the shop's domain was quarantined")
	}
	ev.take()
	// A stranger: quarantined, told in Dutch what to do, no case title.
	m = ev.deliver("kees@elders.example", route.Party(c.ID, route.Trader), "From: kees@elders.example\nSubject: x\n\nGraag het geld naar deze rekening overmaken, dank u wel.\n")
	if !m.HasFlag(casestore.FlagQuarantined) {
		t.Fatal("a stranger spoke for the shop")
	}
	out = ev.take()
	if kinds(out) != "quarantine>" || out[0].env.GetHeader("Content-Language") != "nl" || !strings.Contains(out[0].env.Text, "registreren") {
		t.Fatalf("stranger's notice %q:\n%s", kinds(out), out[0].env.Text)
	}
}

func (ev *env) traderWritesFrom(c *casestore.Case, from, body string) *casestore.Message {
	ev.t.Helper()
	return ev.deliver(from, route.Party(c.ID, route.Trader), "From: "+from+"\nSubject: Re\n\n"+body+"\n")
}

// A choice that closed the case can be taken back within the day; an
// answer to a proposal counts as the shop's word in mediation, also from a
// colleague, who gets the shop's mail from then on.
func TestUndoAfterClosingAndAnswersAsWords(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.traderWrites(c, "We sent the refund.")
	ev.take()
	ev.consumerWrites(c, "It is resolved now, thank you.")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeResolved)
	ev.take()
	ev.consumerWrites(c, "UNDO")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateOpen, "")
	if out := ev.take(); kinds(out) != "notice>trader notice>consumer" {
		t.Fatalf("undo of a closing: %q", kinds(out))
	}
	if tm, ok := c.Timer(string(cWindowEnd)); !ok || !tm.Due.After(ev.now) {
		t.Fatalf("window clock not back: %+v", c.Timers)
	}

	ev = newEnv(t)
	ev.store.Update(func(tx *casestore.Tx) error {
		tr, _ := tx.Trader("acme")
		tr.Staff = []casestore.Staff{{Email: "sanne@acme.example"}}
		return tx.PutTrader(tr)
	})
	ev.addMediator("mia@mediators.example", "Mia")
	c = ev.toMediation(eligibleComplaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nA new kettle.")
	ev.take()
	ev.traderWritesFrom(c, "sanne@acme.example", "Akkoord.")
	c = ev.caseNow(c.ID)
	if _, ok := c.Timer(string(cReplyDue)); ok || !c.TraderAnswered {
		t.Fatal("the shop's acceptance did not count as its answer in mediation")
	}
	if len(c.TraderStaff) != 1 {
		t.Fatalf("colleague not kept: %v", c.TraderStaff)
	}
	var toSanne bool
	for _, s := range ev.take() {
		toSanne = toSanne || (s.o.To == "sanne@acme.example" && strings.Contains(s.env.Text, "ONGEDAAN"))
	}
	if !toSanne {
		t.Fatal("the colleague's confirmation did not reach her")
	}
}

// A date in the same sentence as an ordering or complaining word, before or
// after it, is the order date or the first complaint's; a sentence with two
// dates is left for the consumer to say.
func TestDatesInRunningText(t *testing.T) {
	ev := newEnv(t)
	for _, c := range []struct {
		lang, text, ordered, complained string
	}{
		{"en", "I bought running shoes on 2 November 2026 and they fell apart. I emailed the shop on 16 November 2026, no answer.", "2026-11-02", "2026-11-16"},
		{"en", "I ordered on 3 October 2026 and they promised delivery on 10 October 2026.", "", ""},
		{"en", "On 5 October 2026 I placed an order for a kettle.", "2026-10-05", ""},
		{"en", "The kettle arrived on 7 October 2026. I complained the same day.", "", ""},
		{"de", "Am 3. Oktober 2026 habe ich einen Wasserkocher bestellt.", "2026-10-03", ""},
		{"nl", "Op 2 november 2026 heb ik een waterkoker besteld. Op 16 november 2026 heb ik de winkel gemaild.", "2026-11-02", "2026-11-16"},
		{"es", "Compré unas zapatillas el 3 de noviembre de 2026 y llegaron rotas. Escribí a la tienda el 10 de noviembre de 2026.", "2026-11-03", "2026-11-10"},
		{"lt", "Užsakiau virdulį 2026 m. lapkričio 3 d., bet jis atkeliavo sugedęs.", "2026-11-03", ""},
		{"lv", "Pasūtīju tējkannu 2026. gada 3. novembrī, bet tā atnāca salauzta.", "2026-11-03", ""},
		{"da", "Jeg bestilte en elkedel d. 3.11.2026. Den kom i stykker.", "2026-11-03", ""},
		{"en", "Hello,\nI bought a kettle on 2 November 2026.\nIt was delivered on 5 November 2026.", "2026-11-02", ""},
	} {
		_, f, _ := ev.e.reader.read(c.text, c.lang)
		if f.OrderDate != c.ordered || f.ComplainedOn != c.complained {
			t.Errorf("%s %q: ordered %q complained %q, want %q %q", c.lang, c.text, f.OrderDate, f.ComplainedOn, c.ordered, c.complained)
		}
	}
}

// The confirmation shows what was read, as lines the consumer can send back
// corrected.
func TestConfirmShowsWhatWasRead(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Intake("acme"), eligibleComplaint)
	out := to(ev.take(), route.Consumer)
	if len(out) != 1 || out[0].o.Kind != "confirm" {
		t.Fatalf("sent %q", kinds(out))
	}
	for _, want := range []string{"This is what we read in your complaint", "Trader: Acme Shop", "Order date: 20 October 2026", "What I want: refund",
		"Order number: A-1234", "Amount: " + ev.eur(4995)} {
		if !strings.Contains(out[0].env.Text, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, out[0].env.Text)
		}
	}
	// A line sent back corrects the field.
	c := ev.onlyCase()
	ev.consumerWrites(c, "Order date: 21 October 2026")
	if got := ev.caseNow(c.ID).Fields.OrderDate; got != "2026-10-21" {
		t.Errorf("order date after the correction: %q", got)
	}
}
