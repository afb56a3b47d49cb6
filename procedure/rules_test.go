package procedure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"parley/casefile"
	"parley/casestore"
	"parley/config"
	"parley/route"
)

// Path tests for the scheme's rules and the truth of what Parley says
// (issue "Every sentence Parley sends is true"), with the injected clock.

// toMediation opens a case from text at acme@, lets the window run and
// chooses mediation; it returns the case and drops what was sent.
func (ev *env) toMediation(text string) *casestore.Case {
	ev.t.Helper()
	ev.deliver("jan@consumer.example", route.Intake("acme"), text)
	c := ev.onlyCase()
	ev.advance(7 * day)
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	c = ev.caseNow(c.ID)
	expectState(ev.t, c, casestore.StateMediation, "")
	ev.take()
	return c
}

func (ev *env) consumerWrites(c *casestore.Case, body string) *casestore.Message {
	ev.t.Helper()
	return ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\n"+body+"\n")
}

func (ev *env) traderWrites(c *casestore.Case, body string) *casestore.Message {
	ev.t.Helper()
	return ev.deliver("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\n"+body+"\n")
}

func to(out []sent, role route.Role) []sent {
	var r []sent
	for _, s := range out {
		if s.o.Role == role {
			r = append(r, s)
		}
	}
	return r
}

func TestReferralSendsCaseFileToBody(t *testing.T) {
	ev := newEnvWith(t, referralBody)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.advance(29 * day) // the trader stays silent past 20 working days
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeReferred)
	out := ev.take()
	if got := kinds(out); got != "closed>consumer closed>trader closed>mediator referral>" {
		t.Fatalf("sent %q", got)
	}
	cons, trad, letter := out[0].env.Text, out[1].env.Text, out[3]
	for _, want := range []string{"€49.95", "DigiDispuut", "https://body.example/claim", "€25.00", "the shop must reimburse it"} {
		if !strings.Contains(cons, want) {
			t.Errorf("consumer's notice lacks %q:\n%s", want, cons)
		}
	}
	if !strings.Contains(trad, "DigiDispuut") || strings.Contains(trad, "25,00") { // the fee is the consumer's
		t.Errorf("trader's notice:\n%s", trad)
	}
	if letter.o.To != "claims@body.example" || !strings.Contains(letter.env.GetHeader("From"), "Parley ["+c.ID+"]") {
		t.Fatalf("cover letter to %s from %s", letter.o.To, letter.env.GetHeader("From"))
	}
	for _, want := range []string{"did not answer by the deadline set for its answer", "jan@consumer.example", "support@acme.example",
		"Amount: €49.95", "Order date: 20 October 2026", "https://body.example/claim", "€25.00", "Mediator: Mia"} {
		if !strings.Contains(letter.env.Text, want) {
			t.Errorf("cover letter lacks %q:\n%s", want, letter.env.Text)
		}
	}
	if len(letter.env.Attachments) != 1 || letter.env.Attachments[0].FileName != "case-"+c.ID+".zip" {
		t.Fatalf("attachments %+v", letter.env.Attachments)
	}
	zipData := letter.env.Attachments[0].Content
	verify := func(when string) {
		man, problems, err := casefile.Verify(bytes.NewReader(zipData), int64(len(zipData)))
		if err != nil || len(problems) > 0 || man.Case.ID != c.ID {
			t.Fatalf("%s: case file does not verify: %v %v", when, err, problems)
		}
	}
	verify("at referral")
	sum := sha256.Sum256(zipData)
	if !strings.Contains(letter.env.Text, hex.EncodeToString(sum[:])) {
		t.Error("cover letter does not state the case file's SHA-256")
	}
	recorded := func() bool {
		for _, e := range ev.events(c.ID) {
			if e.Kind == casestore.EvReferral && e.Digest == hex.EncodeToString(sum[:]) {
				return true
			}
		}
		return false
	}
	if !recorded() {
		t.Fatal("the record does not keep the case file's fingerprint")
	}
	ev.advance(184 * day)
	c = ev.caseNow(c.ID)
	if !c.Purged {
		t.Fatal("not purged")
	}
	verify("after the purge")
	if !recorded() {
		t.Fatal("the purge lost the case file's fingerprint")
	}
	if seq, why := casestore.VerifyEvents(c, ev.events(c.ID)); seq != 0 {
		t.Fatalf("record: event %d: %s", seq, why)
	}
	if len(c.Timers) != 0 {
		t.Errorf("timers left after the purge: %+v", c.Timers)
	}
}

// A body that gives binding advice (bindend advies) is never called an
// arbitration: not to the consumer, the Dutch shop, the mediator or the body.
func TestBindingAdviceIsNamed(t *testing.T) {
	ev := newEnvWith(t, func(p *config.Procedure) {
		referralBody(p)
		p.ArbitrationKind = "binding_advice"
		p.ArbitrationLang = "nl"
	})
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.advance(29 * day)
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeReferred)
	out := ev.take()
	if got := kinds(out); got != "closed>consumer closed>trader closed>mediator referral>" {
		t.Fatalf("sent %q", got)
	}
	for _, s := range out {
		text := strings.ToLower(s.env.Text + " " + s.env.GetHeader("Subject"))
		if strings.Contains(text, "arbitra") || strings.Contains(text, "arbiter") {
			t.Errorf("%s to %s names an arbitration:\n%s", s.o.Kind, s.o.Role, s.env.Text)
		}
	}
	if !strings.Contains(out[0].env.Text, "is referred to DigiDispuut for binding advice") ||
		!strings.Contains(out[0].env.Text, "if DigiDispuut finds you in the right, the shop must reimburse it") {
		t.Errorf("consumer's notice:\n%s", out[0].env.Text)
	}
	if !strings.Contains(out[1].env.Text, "voor bindend advies doorverwezen naar DigiDispuut") {
		t.Errorf("the Dutch shop's notice:\n%s", out[1].env.Text)
	}
	if !strings.Contains(out[3].env.GetHeader("Subject"), "Doorverwijzing voor bindend advies") {
		t.Errorf("cover letter subject %q", out[3].env.GetHeader("Subject"))
	}
}

// Without a body, nothing is referred and nobody is told about arbitration.
func TestNoBodyNoReferral(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#refer")
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "No arbitration body is configured") {
		t.Fatalf("#refer without a body: %q", kinds(out))
	}
	expectState(t, ev.caseNow(c.ID), casestore.StateMediation, "")
	ev.mediatorWrites(c, "mia@mediators.example", "#close referred")
	if out := ev.take(); !strings.Contains(out[0].env.Text, "? #close referred") {
		t.Fatal("#close referred bypasses #refer")
	}
}

// The one-year limit counts from the complaint to the trader, not the order,
// and is checked when mediation would start.
func TestComplaintAgeCountsFromTheComplaint(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	old := strings.Replace(eligibleComplaint, "2026-10-20", "2024-06-01", 1)
	c := ev.toMediation(old) // an order 2.5 years old, a complaint made now
	if c.Fields.OrderDate != "2024-06-01" {
		t.Fatalf("fields %+v", c.Fields)
	}

	ev = newEnv(t)
	stale := eligibleComplaint + "First complained to the shop on: 2025-09-01\n"
	ev.deliver("jan@consumer.example", route.Intake("acme"), stale)
	c = ev.onlyCase()
	if c.Fields.ComplainedOn != "2025-09-01" {
		t.Fatalf("complained-on not read: %+v", c.Fields)
	}
	ev.take()
	ev.advance(7 * day)
	out := ev.take()
	choice := to(out, route.Consumer)[0].env.Text
	if strings.Contains(choice, ev.keys.ChoiceLocal(c.ID, route.ChoiceMediation)) || !strings.Contains(choice, "dates from 1 September 2025") {
		t.Fatalf("a complaint 14 months old is offered mediation:\n%s", choice)
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	expectState(t, ev.caseNow(c.ID), casestore.StateChoice, "")
	if out := ev.take(); kinds(out) != "choice>consumer" || !strings.Contains(out[0].env.Text, "365 days") {
		t.Fatalf("refusal not explained: %q", kinds(out))
	}
	// The consumer corrects the date: mediation opens.
	ev.consumerWrites(c, "First complained to the shop on: 2026-10-25")
	if out := ev.take(); !strings.Contains(kinds(out), "notice>consumer") {
		t.Fatalf("correction not confirmed: %q", kinds(out))
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	expectState(t, ev.caseNow(c.ID), casestore.StateMediation, "")
}

// A field nobody gave is unknown, never "no"; the window makes "contacted"
// yes; what is missing for arbitration is asked for and can be given later.
func TestUnknownFieldsAskedForAndCompletedLater(t *testing.T) {
	ev := newEnvWith(t, referralBody)
	ev.addMediator("mia@mediators.example", "Mia")
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint) // no amount, no "contacted"
	c := ev.onlyCase()
	if c.Fields.Contacted != "" {
		t.Fatalf("contacted %q before anyone said so", c.Fields.Contacted)
	}
	ev.take()
	ev.advance(7 * day)
	ev.take()
	if c = ev.caseNow(c.ID); c.Fields.Contacted != "yes" {
		t.Fatalf("contacted %q after the trader's window ran", c.Fields.Contacted)
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	out := ev.take()
	mediation := to(out, route.Consumer)[0].env.Text
	if !strings.Contains(mediation, "the amount of your claim") || !strings.Contains(mediation, "Amount: ") {
		t.Fatalf("the missing amount is not asked for:\n%s", mediation)
	}
	ev.mediatorWrites(c, "mia@mediators.example", "#refer")
	out = ev.take()
	if kinds(out) != "notice>consumer notice>mediator" {
		t.Fatalf("#refer with the amount unknown: %q", kinds(out))
	}
	if med := out[1].env.Text; !strings.Contains(med, "the amount of the claim is not known") || strings.Contains(med, "did not contact") {
		t.Fatalf("mediator's answer:\n%s", med)
	}
	if ask := out[0].env.Text; !strings.Contains(ask, "Amount: ") {
		t.Fatalf("consumer not asked:\n%s", ask)
	}
	ev.consumerWrites(c, "Amount: 300 EUR\nThat is what I paid.")
	out = ev.take()
	if kinds(out) != "relay>trader relay>mediator notice>consumer" || !strings.Contains(out[2].env.Text, "Amount: €300.00") {
		t.Fatalf("amount not confirmed: %q", kinds(out))
	}
	c = ev.caseNow(c.ID)
	if c.Fields.Amount != 30000 || c.Fields.Currency != "EUR" {
		t.Fatalf("fields %+v", c.Fields)
	}
	var set *casestore.Event
	for _, e := range ev.events(c.ID) {
		if e.Kind == casestore.EvFieldSet && e.Role == route.Consumer {
			set = &e
		}
	}
	if set == nil || !strings.Contains(set.Text, "amount = 300.00 EUR (was unknown)") {
		t.Fatalf("change not recorded with who made it: %+v", set)
	}
	ev.mediatorWrites(c, "mia@mediators.example", "#refer")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeReferred)
}

func TestMediatorSetsFields(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(complaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#set amount 300 EUR\n#set order-date 3.10.2026\n#set contacted yes\n#set order-ref A-77\n#set complained-on 2026-10-05")
	out := ev.take()
	if kinds(out) != "notice>consumer notice>mediator" {
		t.Fatalf("sent %q", kinds(out))
	}
	for _, want := range []string{"Amount: €300.00", "Order date: 3 October 2026", "Order number: A-77", "First complained to the shop on: 5 October 2026"} {
		if !strings.Contains(out[1].env.Text, want) {
			t.Errorf("reply lacks %q:\n%s", want, out[1].env.Text)
		}
		if !strings.Contains(out[0].env.Text, want) {
			t.Errorf("the consumer is not told %q:\n%s", want, out[0].env.Text)
		}
	}
	f := ev.caseNow(c.ID).Fields
	if f.Amount != 30000 || f.OrderDate != "2026-10-03" || f.Contacted != "yes" || f.OrderRef != "A-77" || f.ComplainedOn != "2026-10-05" {
		t.Fatalf("fields %+v", f)
	}
	n := 0
	for _, e := range ev.events(c.ID) {
		if e.Kind == casestore.EvFieldSet && e.Role == route.Mediator {
			n++
		}
	}
	if n != 4 { // contacted was already yes after the window
		t.Fatalf("%d field events by the mediator, want 4", n)
	}
	ev.mediatorWrites(c, "mia@mediators.example", "#set amount lots")
	if out := ev.take(); !strings.Contains(out[0].env.Text, "? #set amount lots") {
		t.Fatal("an unreadable #set was accepted")
	}
}

func TestNoReminderOnceTheTraderWrote(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(3 * day)
	ev.traderWrites(c, "We are looking into it.")
	ev.take()
	if _, ok := ev.caseNow(c.ID).Timer(string(cReminder)); ok {
		t.Error("the reminder is still scheduled after the trader wrote")
	}
	ev.advance(3 * day)
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("sent %q after the trader had answered", kinds(out))
	}
	// A new window (WAIT) reminds again if the trader stays silent then.
	ev.advance(day)
	ev.take()
	ev.consumerWrites(c, "WAIT")
	ev.take()
	ev.advance(5*day + time.Hour)
	if out := ev.take(); kinds(out) != "reminder>trader" {
		t.Fatalf("second window: %q", kinds(out))
	}
}

// A timer that comes due while its case has accepted mail not yet processed
// waits for that mail: the trader's answer accepted before the reminder's
// time cancels it.
func TestTimerWaitsForQueuedMail(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.now = ev.now.Add(5*day - time.Minute) // accepted a minute before the reminder's time
	job := ev.queueMessage("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\nOn its way.\n")
	ev.advance(2 * time.Minute)
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("a timer fired over queued mail: %q", kinds(out))
	}
	if err := ev.e.Process(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	ev.advance(3 * time.Second)
	if out := ev.take(); kinds(out) != "relay>consumer" {
		t.Fatalf("sent %q, want only the relay", kinds(out))
	}
	// Mail accepted before a deadline counts first even when the daemon was
	// down across the deadline (the timer is long overdue at the start).
	job = ev.queueMessage("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\nDone.\n")
	ev.now = ev.now.Add(3 * day) // past the window's end at 7 days
	if _, err := ev.e.FireDue(); err != nil {
		t.Fatal(err)
	}
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("an overdue timer fired over mail accepted before it: %q", kinds(out))
	}
	if err := ev.e.Process(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	ev.take()
	// Mail accepted after the deadline does not hold it.
	ev.queueMessage("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nlate\n")
	ev.advance(3 * time.Second)
	if out := ev.take(); kinds(out) != "window_ended>trader choice>consumer" {
		t.Fatalf("held by mail accepted after the deadline: %q", kinds(out))
	}
}

// Mail whose job keeps failing holds a timer back only so long.
func TestTimerHeldOnlySoLong(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.now = ev.now.Add(7*day - time.Minute)
	ev.queueMessage("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nhello\n")
	ev.advance(2 * time.Minute)
	if out := ev.take(); kinds(out) != "" {
		t.Fatalf("fired while mail was queued: %q", kinds(out))
	}
	ev.advance(2 * time.Minute)
	if out := ev.take(); kinds(out) != "window_ended>trader choice>consumer" {
		t.Fatalf("held back for ever: %q", kinds(out))
	}
}

// Parley's own notices come From the service with the case id; what a party
// wrote comes "NAME via Parley".
func TestNoticesFromTheService(t *testing.T) {
	ev := newEnvWith(t, func(p *config.Procedure) { p.ServiceName = "Acme Disputes desk" })
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.traderWrites(c, "We offer 20 EUR.")
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nAcme refunds 40 EUR.")
	ev.consumerWrites(c, "Hello")
	ev.consumerWrites(c, "REJECT")
	ev.advance(100 * day)
	var all []sent
	ev.deliver("jan@consumer.example", route.Intake("acme"), eligibleComplaint)
	all = append(all, ev.take()...)
	for _, s := range all {
		from := s.env.GetHeader("From")
		switch {
		case s.o.Kind == "relay":
			if !strings.Contains(from, " via Parley") || strings.Contains(from, "Acme Disputes desk") {
				t.Errorf("relay to %s From %s", s.o.Role, from)
			}
		case !strings.Contains(from, `"Acme Disputes desk [`+s.o.CaseID+`]"`):
			t.Errorf("%s to %s From %s", s.o.Kind, s.o.Role, from)
		}
	}
}

// clockTime is a time of day as dates in mails show it.
var clockTime = regexp.MustCompile(`\b\d{1,2}:\d{2}\b`)

// unexplained removes from text every moment in known, as a reader of lang
// reads it, and returns what still shows a time of day.
func (ev *env) unexplained(text, lang string, known []time.Time) []string {
	for _, t := range known {
		text = strings.ReplaceAll(text, ev.e.loc.FormatTime(lang, t, false), "")
	}
	return clockTime.FindAllString(text, -1)
}

// Every deadline in every mail is a timer that is pending when the mail is
// sent, and fires at that moment; every other moment a mail names is one
// that passed (a timer that fired, a message's time).
func TestDeadlinesInMailsAreTimers(t *testing.T) {
	ev := newEnvWith(t, func(p *config.Procedure) { referralBody(p); p.MaxExtensions = 1 })
	ev.addMediator("mia@mediators.example", "Mia")
	var c *casestore.Case
	var past []time.Time
	check := func(step string) {
		t.Helper()
		out := ev.take()
		if c == nil {
			c = ev.onlyCase()
		}
		cc := ev.caseNow(c.ID)
		var pending []time.Time
		for _, tm := range cc.Timers {
			pending = append(pending, tm.Due)
		}
		for _, s := range out {
			lang := s.env.GetHeader("Content-Language")
			// Pending timers first: a future moment must be one of them.
			text := s.env.Text
			for _, d := range pending {
				text = strings.ReplaceAll(text, ev.e.loc.FormatTime(lang, d, false), "")
			}
			if left := ev.unexplained(text, lang, past); len(left) > 0 {
				t.Errorf("%s: %s to %s names a moment (%v) that is no pending timer and not past:\n%s", step, s.o.Kind, s.o.Role, left, s.env.Text)
			}
		}
		past = append(append(past, pending...), ev.now)
	}
	ev.deliver("jan@consumer.example", route.Complaints(), "From: jan@consumer.example\nSubject: help\n\nMy order never came.\n")
	check("need info")
	c = ev.onlyCase()
	ev.advance(3 * day)
	ev.consumerWrites(c, "Trader: support@acme.example\nWhat I want: refund\nAmount: 80 EUR")
	check("opened")
	ev.advance(5*day + time.Hour)
	check("reminder")
	ev.advance(2 * day)
	check("choice")
	ev.advance(5 * day)
	ev.consumerWrites(c, "WAIT")
	check("extended")
	ev.advance(7 * day)
	check("choice again")
	ev.advance(3 * day)
	ev.consumerWrites(c, "WAIT")
	check("wait refused")
	ev.advance(2 * day)
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	check("mediation")
	ev.traderWrites(c, "We disagree.")
	check("trader answered")
	ev.advance(8 * day)
	check("mediator idle")
	ev.mediatorWrites(c, "mia@mediators.example", "#status")
	check("status")
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nAcme refunds 50 EUR.")
	check("proposal")
	ev.mediatorWrites(c, "mia@mediators.example", "#extend 14d")
	check("extended mediation")
	ev.advance(15 * day)
	check("proposal lapsed")
	ev.advance(60 * day)
	check("mediation ended")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeReferred)
}

// A refused second WAIT repeats the choice with the deadline the choice's
// timer still has, and the case closes then.
func TestRefusedWaitKeepsTheDeadline(t *testing.T) {
	ev := newEnvWith(t, func(p *config.Procedure) { p.MaxExtensions = 0 })
	c := openCase(t, ev)
	ev.advance(7 * day)
	first := ev.take()
	tm, _ := ev.caseNow(c.ID).Timer(string(cChoiceExpired))
	ev.advance(10 * day)
	ev.consumerWrites(c, "WAIT")
	out := ev.take()
	if kinds(out) != "choice>consumer" || !strings.Contains(out[0].env.Text, ev.when(tm.Due)) {
		t.Fatalf("refused WAIT does not keep the deadline %s:\n%s", ev.when(tm.Due), out[0].env.Text)
	}
	if !strings.Contains(to(first, route.Consumer)[0].env.Text, ev.when(tm.Due)) {
		t.Fatal("first choice mail states another deadline")
	}
	ev.advance(4*day + time.Minute)
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeAbandoned)
}

// The choice mail offers closing without a resolution; that closes as
// withdrawn, and the consumer learns where else to turn.
func TestChoiceOffersClosingWithoutResolution(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(7 * day)
	out := ev.take()
	choice := to(out, route.Consumer)[0].env.Text
	if !strings.Contains(choice, ev.keys.ChoiceLocal(c.ID, route.ChoiceWithdraw)) || !strings.Contains(choice, "without a resolution") || !strings.Contains(choice, "WITHDRAW") {
		t.Fatalf("no way to close without resolution:\n%s", choice)
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceWithdraw)
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeWithdrawn)
	out = ev.take()
	if kinds(out) != "closed>consumer closed>trader" || !strings.Contains(out[0].env.Text, "European Consumer Centres") || strings.Contains(out[1].env.Text, "European Consumer Centres") {
		t.Fatalf("closing: %q\n%s", kinds(out), out[0].env.Text)
	}
}

// Mediation has a clock until its end: the mediator is reminded when
// nothing happens, may extend once, and the end closes the case.
func TestMediationAlwaysHasAClock(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	end, ok := c.Timer(string(cMediationEnd))
	if !ok || !end.Due.Equal(c.Completed.Add(90*day)) {
		t.Fatalf("mediation end %v, complete at %v", end.Due, c.Completed)
	}
	ev.traderWrites(c, "We disagree.")
	ev.take()
	c = ev.caseNow(c.ID)
	if _, ok := c.Timer(string(cReplyDue)); ok || !c.TraderAnswered {
		t.Fatal("the trader's reply clock runs on after the answer")
	}
	ev.advance(7*day + time.Hour)
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "Nothing has happened") {
		t.Fatalf("idle mediator not reminded: %q", kinds(out))
	}
	ev.advance(2 * day)
	ev.mediatorWrites(c, "mia@mediators.example", "#status")
	status := ev.take()[0].env.Text
	var ahead []time.Time
	for _, tm := range ev.caseNow(c.ID).Timers {
		if tm.Due.After(ev.now) {
			ahead = append(ahead, tm.Due)
		}
	}
	if left := ev.unexplained(status, "en", ahead); len(left) > 0 {
		t.Errorf("#status shows moments that are no deadline ahead: %v\n%s", left, status)
	}
	if !strings.Contains(status, "the mediation ends") {
		t.Errorf("#status lacks the mediation's end:\n%s", status)
	}
	ev.advance(90 * day)
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeUnresolved)
	out = ev.take()
	var closing []sent
	for _, s := range out {
		if s.o.Kind == "closed" {
			closing = append(closing, s)
		}
	}
	if len(closing) != 3 || !strings.Contains(closing[0].env.Text, "ended on "+ev.when(end.Due)+" without an agreement") {
		t.Errorf("closing notices %d:\n%s", len(closing), closing[0].env.Text)
	}
	if len(c.Timers) != 1 || c.Timers[0].Kind != string(cRetention) {
		t.Errorf("a closed case keeps clocks: %+v", c.Timers)
	}
}

// A proposal has a deadline; silence counts as rejection, and the mediation
// goes on.
func TestProposalLapses(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	c := ev.toMediation(eligibleComplaint)
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nAcme refunds 40 EUR.")
	out := ev.take()
	due, _ := ev.caseNow(c.ID).Timer(string(cProposalDue))
	for _, s := range out {
		if !strings.Contains(s.env.Text, ev.whenIn(s.env.GetHeader("Content-Language"), due.Due)) {
			t.Errorf("proposal to %s lacks its deadline", s.o.Role)
		}
	}
	for _, want := range []string{"counts as a rejection", "differ from what a court would decide", "independent advice", "withdraw"} {
		if !strings.Contains(out[0].env.Text, want) {
			t.Errorf("proposal to the consumer lacks %q:\n%s", want, out[0].env.Text)
		}
	}
	ev.choose(c, "support@acme.example", route.ChoiceAccept)
	ev.take()
	ev.advance(14*day + time.Minute)
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateMediation, "")
	if c.Proposal.Consumer != "rejected" || c.Proposal.Trader != "accepted" {
		t.Fatalf("proposal %+v", c.Proposal)
	}
	if out := ev.take(); kinds(out) != "notice>consumer notice>trader notice>mediator" || !strings.Contains(out[0].env.Text, "lapsed") {
		t.Fatalf("lapse not told: %q", kinds(out))
	}
	ev.consumerWrites(c, "ACCEPT")
	if out := ev.take(); kinds(out) != "notice>consumer" || !strings.Contains(out[0].env.Text, "could not be applied") {
		t.Fatalf("answer to a lapsed proposal: %q", kinds(out))
	}
}

// Every path ends with one closing notice per party who heard of the case,
// and a trader who never heard of it gets none.
func TestOneClosingNoticePerParty(t *testing.T) {
	for _, tc := range []struct {
		name string
		path func(ev *env) *casestore.Case
		want string // closing notices, by role
	}{
		{"intake expired at a handle", func(ev *env) *casestore.Case {
			ev.deliver("jan@consumer.example", route.Intake("acme"), "From: jan@consumer.example\nSubject: x\n\nIt broke.\n")
			ev.advance(15 * day)
			return ev.onlyCase()
		}, "consumer"},
		{"withdrawn in the window", func(ev *env) *casestore.Case {
			c := openCase(t, ev)
			ev.consumerWrites(c, "WITHDRAW")
			return c
		}, "consumer trader"},
		{"settled", func(ev *env) *casestore.Case {
			ev.addMediator("mia@mediators.example", "Mia")
			c := ev.toMediation(eligibleComplaint)
			ev.mediatorWrites(c, "mia@mediators.example", "#propose\nRefund.")
			ev.consumerWrites(c, "ACCEPT")
			ev.traderWrites(c, "ACCEPT")
			return c
		}, "consumer trader mediator"},
		{"silence, referred", func(ev *env) *casestore.Case {
			referralBody(&ev.e.cfg.Procedure)
			ev.addMediator("mia@mediators.example", "Mia")
			c := ev.toMediation(eligibleComplaint)
			ev.advance(30 * day)
			return c
		}, "consumer trader mediator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEnv(t)
			c := tc.path(ev)
			expectState(t, ev.caseNow(c.ID), casestore.StateClosed, ev.caseNow(c.ID).Outcome)
			all := ev.take()
			ev.advance(200 * day) // past retention: nothing more is sent
			all = append(all, ev.take()...)
			var got []string
			for _, s := range all {
				if s.o.Kind == "closed" {
					got = append(got, string(s.o.Role))
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("closing notices to %q, want %q", got, tc.want)
			}
		})
	}
}

// A failing or panicking timer is recorded on its case, retried on a
// backoff and parked; the other cases' clocks fire on time.
func TestTimerFailuresAreIsolated(t *testing.T) {
	ev := newEnv(t)
	ev.e.timerRetry = retryPolicy{attempts: 3, first: time.Minute, most: time.Hour}
	ev.deliver("jan@consumer.example", route.Intake("acme"), complaint)
	ev.deliver("ann@consumer.example", route.Intake("acme"), strings.ReplaceAll(complaint, "jan@", "ann@"))
	ev.deliver("bob@consumer.example", route.Intake("acme"), strings.ReplaceAll(complaint, "jan@", "bob@"))
	ev.take()
	var cs []casestore.Case
	ev.store.View(func(tx *casestore.Tx) (err error) { cs, err = tx.Cases(); return err })
	bad, failing := cs[0].ID, cs[1].ID
	// One case's action panics, another's fails.
	ev.e.beforeFire = func(d casestore.DueTimer) error {
		switch d.Case {
		case bad:
			panic("boom in " + d.Kind)
		case failing:
			return errors.New("disk on fire")
		}
		return nil
	}
	ev.advance(5*day + time.Hour)
	if got := kinds(ev.take()); got != "reminder>trader" {
		t.Fatalf("the healthy case's reminder: %q", got)
	}
	var failed []casestore.Event
	for _, e := range ev.events(bad) {
		if e.Kind == casestore.EvClockFailed {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Text, "panic: boom in reminder") || !strings.Contains(failed[0].Text, "next attempt") {
		t.Fatalf("failure not recorded on the case: %+v", failed)
	}
	tm, _ := ev.caseNow(bad).Timer(string(cReminder))
	if tm.Attempts != 1 || !tm.Retry.After(ev.now) {
		t.Fatalf("timer not moved to a retry: %+v", tm)
	}
	// Retries, then parked; meanwhile the healthy case's window ends on time.
	ev.advance(2 * time.Minute)
	ev.advance(5 * time.Minute)
	if tm, _ := ev.caseNow(bad).Timer(string(cReminder)); !tm.Parked {
		t.Fatalf("not parked after 3 failures: %+v", tm)
	}
	ev.advance(2 * day)
	if got := kinds(ev.take()); got != "window_ended>trader choice>consumer" {
		t.Fatalf("healthy case's window end: %q", got)
	}
	ev.advance(2 * time.Minute)
	ev.advance(5 * time.Minute)
	var parked []string
	ev.store.View(func(tx *casestore.Tx) error { parked = tx.ParkedTimers(); return nil })
	if len(parked) != 4 { // reminder and window end of both failing cases
		t.Fatalf("parked %v", parked)
	}
	// At the next start the parked timers are tried again.
	ev.e.beforeFire = nil
	var n int
	if err := ev.store.Update(func(tx *casestore.Tx) (err error) { n, err = tx.ResumeParkedTimers(ev.now); return err }); err != nil || n == 0 {
		t.Fatalf("resumed %d, %v", n, err)
	}
	ev.advance(time.Second)
	if c := ev.caseNow(bad); c.State != casestore.StateChoice {
		t.Fatalf("resumed case in %s", c.State)
	}
	var errs int
	for _, e := range ev.events(failing) {
		if e.Kind == casestore.EvClockFailed && strings.Contains(e.Text, "disk on fire") {
			errs++
		}
	}
	if errs < 3 {
		t.Fatalf("the failing case records %d failures", errs)
	}
}

// arbitrationWords are each language's stems for arbitration, arbitrator and
// arbitral: with a body that gives binding advice none may reach a reader.
var arbitrationWords = map[string][]string{
	"bg": {"арбитр"}, "cs": {"rozhodčí", "rozhodce"}, "da": {"voldgift"}, "de": {"schiedsverfahren", "schiedsrichter", "schiedsstelle"},
	"el": {"διαιτησ", "διαιτητ"}, "en": {"arbitra"}, "es": {"arbitra", "árbitro"}, "et": {"vahekoh"}, "fi": {"välimie"},
	"fr": {"arbitra", "arbitre"}, "ga": {"eadrá"}, "hr": {"arbitra"}, "hu": {"választottbír"}, "is": {"gerðardóm"},
	"it": {"arbitr"}, "lt": {"arbitra"}, "lv": {"šķīrējties"}, "mt": {"arbitra"}, "nb": {"voldgift"}, "nl": {"arbitra", "arbiter"},
	"pl": {"arbitra", "arbiter"}, "pt": {"arbitra", "árbitro"}, "ro": {"arbitra", "arbitru"}, "sk": {"rozhodcov", "rozhodca"},
	"sl": {"arbitra", "arbiter"}, "sv": {"skilje"},
}

// Every mail of a case referred to a body giving binding advice, in every
// language, with the mediator's reminder and #status on the way.
func TestBindingAdviceInEveryLanguage(t *testing.T) {
	for _, lang := range newEnv(t).e.loc.Languages() {
		t.Run(lang, func(t *testing.T) {
			words, ok := arbitrationWords[lang]
			if !ok {
				t.Fatalf("no arbitration words for %s", lang)
			}
			ev := newEnvWith(t, func(p *config.Procedure) {
				referralBody(p)
				p.ArbitrationKind = "binding_advice"
				p.ArbitrationLang = lang
			})
			ev.store.Update(func(tx *casestore.Tx) error {
				tr, _ := tx.Trader("acme")
				tr.Lang = lang
				if err := tx.PutTrader(tr); err != nil {
					return err
				}
				return tx.PutMediator(casestore.Mediator{Email: "mia@mediators.example", Name: "Mia", Lang: lang})
			})
			ev.deliver("jan@consumer.example", route.Intake("acme"), strings.Replace(eligibleComplaint, "Subject:", "Content-Language: "+lang+"\nSubject:", 1))
			c := ev.onlyCase()
			ev.advance(7 * day)
			ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
			ev.traderWrites(c, "ok")
			ev.advance(8 * day)
			ev.mediatorWrites(c, "mia@mediators.example", "#status")
			ev.mediatorWrites(c, "mia@mediators.example", "#refer")
			ev.advance(day) // the case file goes out on its own clock
			expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeReferred)
			out := ev.take()
			read := map[string]bool{}
			for _, s := range out {
				read[s.o.Kind] = true
				if got := s.env.GetHeader("Content-Language"); got != lang {
					t.Errorf("%s to %s in %q", s.o.Kind, s.o.Role, got)
				}
				text := strings.ToLower(s.env.Text + "\n" + s.env.GetHeader("Subject"))
				for _, w := range words {
					if strings.Contains(text, w) {
						t.Errorf("%s to %s says %q:\n%s", s.o.Kind, s.o.Role, w, s.env.Text)
					}
				}
			}
			for _, kind := range []string{"referral", "closed", "notice"} {
				if !read[kind] {
					t.Errorf("no %s mail among %s", kind, kinds(out))
				}
			}
		})
	}
}

// The date by which the amount is asked for is the earliest the case can be
// referred: the trader's reply deadline in mediation (silence ends it), not
// the end of the mediation period.
func TestAmountAskedForByTheEarliestReferral(t *testing.T) {
	ev := newEnvWith(t, referralBody)
	ev.addMediator("mia@mediators.example", "Mia")
	ev.deliver("jan@consumer.example", route.Intake("acme"), strings.Replace(eligibleComplaint, "Amount: 49.95 EUR\n", "", 1))
	c := ev.onlyCase()
	ev.advance(7 * day)
	ev.take()
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	c = ev.caseNow(c.ID)
	reply, _ := c.Timer(cReplyDue.name())
	end, _ := c.Timer(cMediationEnd.name())
	if !reply.Due.Before(end.Due) {
		t.Fatalf("reply due %s not before mediation end %s", reply.Due, end.Due)
	}
	for _, s := range to(ev.take(), route.Consumer) {
		if s.o.Kind != "mediation" {
			continue
		}
		if !strings.Contains(s.env.Text, "amount of your claim") || !strings.Contains(s.env.Text, ev.when(reply.Due)) {
			t.Errorf("the amount is not asked for by %s:\n%s", ev.when(reply.Due), s.env.Text)
		}
		return
	}
	t.Fatal("no mediation notice to the consumer")
}
