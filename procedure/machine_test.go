package procedure

import (
	"strings"
	"testing"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/password"
	"parley/route"
)

const day = 24 * time.Hour

// advance moves the injected clock and fires what came due.
func (ev *env) advance(d time.Duration) {
	ev.t.Helper()
	ev.now = ev.now.Add(d)
	if _, err := ev.e.FireDue(); err != nil {
		ev.t.Fatal(err)
	}
}

func (ev *env) caseNow(id string) *casestore.Case {
	ev.t.Helper()
	var c *casestore.Case
	if err := ev.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(id); return err }); err != nil {
		ev.t.Fatal(err)
	}
	return c
}

func (ev *env) addMediator(email, name string) {
	h, _ := password.Hash("mediator-password")
	ev.store.Update(func(tx *casestore.Tx) error {
		return tx.PutMediator(casestore.Mediator{Email: email, Name: name, Lang: "en", Password: h})
	})
}

func (ev *env) choose(c *casestore.Case, from string, choice route.Choice) {
	ev.t.Helper()
	ev.deliver(from, route.ChoiceOf(c.ID, choice), "From: "+from+"\nSubject: choice\n\n")
}

func (ev *env) mediatorWrites(c *casestore.Case, from, body string) {
	ev.t.Helper()
	ev.deliver(from, route.Party(c.ID, route.Mediator), "From: "+from+"\nSubject: Re: case\n\n"+body+"\n")
}

func kinds(out []sent) string {
	var k []string
	for _, s := range out {
		k = append(k, s.o.Kind+">"+string(s.o.Role))
	}
	return strings.Join(k, " ")
}

func expectState(t *testing.T, c *casestore.Case, state, outcome string) {
	t.Helper()
	if c.State != state || c.Outcome != outcome {
		t.Fatalf("state %s/%s, want %s/%s", c.State, c.Outcome, state, outcome)
	}
}

const eligibleComplaint = `From: Jan Jansen <jan@consumer.example>
Subject: Broken kettle
Content-Type: text/plain; charset=utf-8

The kettle arrived broken and I want my money back.
Order date: 2026-10-20
Order number: A-1234
Amount: 49.95 EUR
Contacted the trader: yes
`

func TestPathSettledDirectly(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(5*day + time.Hour) // reminder 2 days before the 7-day window ends
	if out := ev.take(); kinds(out) != "reminder>trader" {
		t.Fatalf("sent %q, want the trader's reminder", kinds(out))
	}
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nResolved\n\nthanks\n")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeResolved)
	out := ev.take()
	// The closing notices, then the confirmation of what the reply was read as.
	if kinds(out) != "closed>consumer closed>trader notice>consumer" || !strings.Contains(out[2].env.Text, "My problem is resolved") {
		t.Fatalf("closing notices: %q", kinds(out))
	}
	// The closing notice carries the record's fingerprint at that point.
	text := out[0].env.Text
	i := strings.Index(text, "(SHA-256): ")
	if i < 0 {
		t.Fatalf("no fingerprint in the closing notice:\n%s", text)
	}
	printed := strings.Fields(text[i+len("(SHA-256): "):])[0]
	found := false
	for _, e := range ev.events(c.ID) {
		found = found || e.Hash == printed
	}
	if !found {
		t.Fatalf("fingerprint %s is no event's hash", printed)
	}
	ev.advance(8 * day)
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("a closed case's old clocks fired: %q", kinds(out))
	}
}

func TestPathMediationProposalAccepted(t *testing.T) {
	ev := newEnv(t)
	ev.addMediator("mia@mediators.example", "Mia")
	ev.deliver("jan@consumer.example", route.Intake("acme"), eligibleComplaint)
	c := ev.onlyCase()
	expectState(t, c, casestore.StateOpen, "")
	if c.Fields.Amount != 4995 || c.Fields.OrderDate != "2026-10-20" || c.Fields.Contacted != "yes" || c.Fields.Wants != "refund" || c.Fields.OrderRef != "A-1234" {
		t.Fatalf("fields %+v", c.Fields)
	}
	ev.take()
	ev.advance(5*day + time.Hour)
	ev.advance(2 * day)
	out := ev.take()
	if kinds(out) != "reminder>trader window_ended>trader choice>consumer" {
		t.Fatalf("sent %q", kinds(out))
	}
	choice := out[2].env.Text
	for _, ch := range []route.Choice{route.ChoiceResolved, route.ChoiceMediation, route.ChoiceWait} {
		if !strings.Contains(choice, "mailto:"+ev.keys.ChoiceLocal(c.ID, ch)+"@d.test") {
			t.Errorf("choice mail lacks the %s address:\n%s", ch, choice)
		}
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateMediation, "")
	if c.Mediator.Email != "mia@mediators.example" {
		t.Fatalf("mediator %+v", c.Mediator)
	}
	if out := ev.take(); kinds(out) != "mediation>consumer mediation>trader mediation>mediator" {
		t.Fatalf("sent %q", kinds(out))
	}
	// The trader answers: relayed to the consumer and the mediator, clock satisfied.
	ev.deliver("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\nWe offer 30 EUR.\n")
	if out := ev.take(); kinds(out) != "relay>consumer relay>mediator" {
		t.Fatalf("sent %q", kinds(out))
	}
	ev.mediatorWrites(c, "mia@mediators.example", "#propose\nAcme refunds 40.00 EUR within 14 days.")
	out = ev.take()
	if kinds(out) != "proposal>consumer proposal>trader" || !strings.Contains(out[0].env.Text, "40.00 EUR") {
		t.Fatalf("proposal: %q", kinds(out))
	}
	ev.choose(c, "support@acme.example", route.ChoiceAccept)
	expectState(t, ev.caseNow(c.ID), casestore.StateMediation, "")
	ev.take()
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nACCEPT\n")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeSettled)
	if out := ev.take(); !strings.Contains(kinds(out), "closed>consumer closed>trader closed>mediator") {
		t.Fatalf("sent %q", kinds(out))
	}
	ev.advance(21 * 7 * day) // the mediation clock would have fired long ago; nothing happens
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("stale clocks fired: %q", kinds(out))
	}
}

func TestPathTraderSilentInMediation(t *testing.T) {
	for _, tc := range []struct {
		name, complaint, outcome string
		set                      func(*config.Procedure)
		says                     []string
	}{
		{"eligible is referred", eligibleComplaint, casestore.OutcomeReferred, referralBody,
			[]string{"referred to DigiDispuut", "€25.00", "https://body.example/claim", "the shop must reimburse it"}},
		{"amount unknown is refused", complaint, casestore.OutcomeRefused, referralBody,
			[]string{"the amount of the claim is not known", "European Consumer Centres Network"}},
		{"no body is refused", eligibleComplaint, casestore.OutcomeRefused, nil,
			[]string{"European Consumer Centres Network"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := newEnvWith(t, tc.set)
			ev.addMediator("mia@mediators.example", "Mia")
			ev.deliver("jan@consumer.example", route.Intake("acme"), tc.complaint)
			c := ev.onlyCase()
			ev.advance(7 * day)
			ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
			ev.take()
			ev.advance(27 * day) // 20 working days is four weeks
			expectState(t, ev.caseNow(c.ID), casestore.StateMediation, "")
			ev.advance(2 * day)
			c = ev.caseNow(c.ID)
			expectState(t, c, casestore.StateClosed, tc.outcome)
			out := ev.take()
			if got := kinds(out); !strings.HasPrefix(got, "closed>consumer closed>trader closed>mediator") {
				t.Fatalf("sent %q", got)
			}
			text := out[0].env.Text
			for _, want := range append(tc.says, "recorded as a refusal") {
				if !strings.Contains(text, want) {
					t.Errorf("closing notice lacks %q:\n%s", want, text)
				}
			}
			if tc.set == nil && strings.Contains(strings.ToLower(text), "arbitration") {
				t.Errorf("arbitration mentioned without a body configured:\n%s", text)
			}
			var refused bool
			for _, e := range ev.events(c.ID) {
				refused = refused || e.Kind == casestore.EvRefused
			}
			if !refused {
				t.Error("silence not recorded as refusal")
			}
		})
	}
}

func (ev *env) events(id string) []casestore.Event {
	var evs []casestore.Event
	ev.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events(id); return err })
	return evs
}

// #refer on a claim the body does not take explains why to the mediator and
// leaves the case in mediation; the mediator then closes it.
func TestPathIneligibleReferral(t *testing.T) {
	ev := newEnvWith(t, referralBody)
	ev.addMediator("mia@mediators.example", "Mia")
	ev.deliver("jan@consumer.example", route.Intake("acme"), strings.Replace(eligibleComplaint, "49.95 EUR", "12.00 EUR", 1))
	c := ev.onlyCase()
	ev.advance(7 * day)
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	ev.take()
	ev.mediatorWrites(c, "mia@mediators.example", "#refer")
	expectState(t, ev.caseNow(c.ID), casestore.StateMediation, "")
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "below €25.00") {
		t.Fatalf("mediator not told why: %q\n%s", kinds(out), out[0].env.Text)
	}
	ev.mediatorWrites(c, "mia@mediators.example", "#close ineligible")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeIneligible)
}

func TestPathExtensionsThenAbandoned(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(7 * day)
	ev.take()
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nwait\n")
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateOpen, "")
	if c.Extensions != 1 {
		t.Fatalf("extensions %d", c.Extensions)
	}
	if out := ev.take(); kinds(out) != "extended>consumer extended>trader notice>consumer" {
		t.Fatalf("sent %q", kinds(out))
	}
	ev.advance(7 * day)
	out := ev.take()
	if strings.Contains(out[len(out)-1].env.Text, ev.keys.ChoiceLocal(c.ID, route.ChoiceWait)) {
		t.Error("the wait choice is offered after the last extension")
	}
	ev.choose(c, "jan@consumer.example", route.ChoiceWait)
	expectState(t, ev.caseNow(c.ID), casestore.StateChoice, "")
	if out := ev.take(); kinds(out) != "choice>consumer" || !strings.Contains(out[0].env.Text, "already had its extra period") {
		t.Fatalf("refused extension: %q", kinds(out))
	}
	ev.advance(14 * day)
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeAbandoned)
}

func TestPathAbandonedIntake(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), "From: jan@consumer.example\nSubject: help\n\nSomething went wrong with my order.\n")
	c := ev.onlyCase()
	expectState(t, c, casestore.StateIntake, "")
	out := ev.take()
	for _, want := range []string{"Trader:    (the shop's email address)", "What I want:", "Order date:"} {
		if !strings.Contains(out[0].env.Text, want) {
			t.Errorf("fill-in block lacks %q:\n%s", want, out[0].env.Text)
		}
	}
	ev.advance(13 * day)
	expectState(t, ev.caseNow(c.ID), casestore.StateIntake, "")
	ev.advance(2 * day)
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeAbandoned)
	if out := ev.take(); kinds(out) != "closed>consumer" || !strings.Contains(out[0].env.Text, "did not arrive in time") {
		t.Fatalf("one closing notice explaining why, got %q", kinds(out))
	}
}

func TestChoiceFromStrangerOrTraderChangesNothing(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(7 * day)
	ev.take()
	ev.choose(c, "support@acme.example", route.ChoiceResolved)
	ev.choose(c, "mallory@evil.example", route.ChoiceResolved)
	expectState(t, ev.caseNow(c.ID), casestore.StateChoice, "")
}

func TestMediatorCommands(t *testing.T) {
	ev := newEnv(t)
	ev.store.Update(func(tx *casestore.Tx) error { return nil })
	ev.addMediator("mia@mediators.example", "Mia")
	ev.addMediator("max@mediators.example", "Max")
	c := openCase(t, ev)
	ev.advance(7 * day)
	ev.choose(c, "jan@consumer.example", route.ChoiceMediation)
	ev.take()
	c = ev.caseNow(c.ID)
	med := c.Mediator.Email
	ev.mediatorWrites(c, med, "#note\nThe trader sounds reasonable.")
	if out := ev.take(); len(out) != 0 {
		t.Fatalf("a note was sent: %q", kinds(out))
	}
	ev.mediatorWrites(c, med, "#to trader\nPlease send the invoice.")
	if out := ev.take(); kinds(out) != "relay>trader" || strings.Contains(out[0].env.Text, "#to") {
		t.Fatalf("#to trader: %q", kinds(out))
	}
	ev.mediatorWrites(c, med, "Dear both, let us talk.")
	if out := ev.take(); kinds(out) != "relay>consumer relay>trader" {
		t.Fatalf("plain mediator mail: %q", kinds(out))
	}
	ev.mediatorWrites(c, med, "#frobnicate\nhello")
	out := ev.take()
	if kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "#close OUTCOME") {
		t.Fatalf("unknown command: %q", kinds(out))
	}
	ev.mediatorWrites(c, med, "#status")
	if out := ev.take(); kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "State: in mediation") {
		t.Fatalf("#status: %q", kinds(out))
	}
	before, _ := ev.caseNow(c.ID).Timer(string(cMediationEnd))
	ev.mediatorWrites(c, med, "#extend 7d")
	after, _ := ev.caseNow(c.ID).Timer(string(cMediationEnd))
	if !after.Due.Equal(before.Due.Add(7 * day)) {
		t.Fatalf("#extend: mediation ends %v, want %v", after.Due, before.Due.Add(7*day))
	}
	if out := ev.take(); kinds(out) != "notice>consumer notice>trader notice>mediator" || !strings.Contains(out[0].env.Text, ev.when(after.Due)) {
		t.Fatalf("#extend not told to all with the new end: %q", kinds(out))
	}
	ev.mediatorWrites(c, med, "#extend 7d")
	if out := ev.take(); kinds(out) != "notice>mediator" || !strings.Contains(out[0].env.Text, "already extended once") {
		t.Fatalf("second #extend: %q", kinds(out))
	}
	other := "max@mediators.example"
	if other == med {
		other = "mia@mediators.example"
	}
	ev.mediatorWrites(c, other, "#take")
	if got := ev.caseNow(c.ID).Mediator.Email; got != other {
		t.Fatalf("#take: mediator %s", got)
	}
	ev.take()
	m := ev.deliver("mallory@evil.example", route.Party(c.ID, route.Mediator), "From: mallory@evil.example\nSubject: x\n\n#close resolved\n")
	if !m.HasFlag(casestore.FlagQuarantined) || ev.caseNow(c.ID).State != casestore.StateMediation {
		t.Fatal("a command from a stranger acted on the case")
	}
	if out := ev.take(); kinds(out) != "quarantine>" || out[0].o.To != "mallory@evil.example" {
		t.Fatalf("stranger not told: %q", kinds(out))
	}
	ev.mediatorWrites(c, other, "#close withdrawn")
	expectState(t, ev.caseNow(c.ID), casestore.StateClosed, casestore.OutcomeWithdrawn)
}

func TestRetentionPurgesAndRecordStillVerifies(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.deliver("support@acme.example", route.Party(c.ID, route.Trader), "From: support@acme.example\nSubject: Re\n\nSorry, refund sent.\n")
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\nresolved\n")
	ev.take()
	c = ev.caseNow(c.ID)
	expectState(t, c, casestore.StateClosed, casestore.OutcomeResolved)
	var msgs []casestore.Message
	ev.store.View(func(tx *casestore.Tx) (err error) { msgs, err = tx.CaseMessages(c.ID); return err })
	raws := []string{msgs[0].SHA256, msgs[1].SHA256}
	ev.advance(182 * day)
	if ev.caseNow(c.ID).Purged {
		t.Fatal("purged before the retention period")
	}
	ev.advance(2 * day)
	c = ev.caseNow(c.ID)
	if !c.Purged || c.Consumer.Email != "" || c.Trader.Email != "" || c.Title != "" || c.Fields.Problem != "" {
		t.Fatalf("personal data left: %+v", c)
	}
	if c.Outcome != casestore.OutcomeResolved || c.Created.IsZero() {
		t.Fatal("statistics lost")
	}
	for _, sum := range raws {
		if _, err := ev.store.Raw(sum); err == nil {
			t.Errorf("raw message %s survived the purge", sum[:8])
		}
	}
	if seq, why := casestore.VerifyEvents(c, ev.events(c.ID)); seq != 0 {
		t.Fatalf("record no longer verifies after purge: event %d: %s", seq, why)
	}
}

func TestVerifyNamesTheAlteredEvent(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	evs := ev.events(c.ID)
	if seq, _ := casestore.VerifyEvents(ev.caseNow(c.ID), evs); seq != 0 {
		t.Fatalf("fresh record does not verify: %d", seq)
	}
	evs[2].Kind = "forged"
	if seq, _ := casestore.VerifyEvents(ev.caseNow(c.ID), evs); seq != 3 {
		t.Fatalf("altered event 3 reported as %d", seq)
	}
	evs = ev.events(c.ID)
	evs[1].Text = "changed words"
	if seq, _ := casestore.VerifyEvents(ev.caseNow(c.ID), evs); seq != 2 {
		t.Fatalf("altered text of event 2 reported as %d", seq)
	}
}

// After downtime across both, the reminder must not urge a passed deadline.
func TestStaleReminderDropped(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	ev.advance(8 * day)
	out := ev.take()
	if kinds(out) != "window_ended>trader choice>consumer" {
		t.Fatalf("sent %q", kinds(out))
	}
	for _, e := range ev.events(c.ID) {
		if e.Kind == casestore.EvStateChange && e.Role == "unknown" {
			t.Errorf("clock event with role unknown: %+v", e)
		}
	}
}

// Sending the fill-in form back with blanks left as they are must not turn its
// hints into answers.
func TestFormHintsAreNotAnswers(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), "From: jan@consumer.example\nSubject: help\n\nMy order never came.\n")
	c := ev.onlyCase()
	form := ev.take()[0].env.Text
	var reply strings.Builder
	for _, line := range strings.Split(form, "\n") {
		if strings.HasPrefix(line, "What I want:") {
			line = "What I want: a refund"
		}
		reply.WriteString("> " + line + "\n")
	}
	body := "What I want: a refund\n\n" + strings.ReplaceAll(reply.String(), "> ", "")
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), "From: jan@consumer.example\nSubject: Re\n\n"+body)
	c = ev.caseNow(c.ID)
	if c.Trader.Email != "" || c.Fields.Contacted != "" || c.Fields.OrderDate != "" {
		t.Fatalf("hints taken as answers: trader %q contacted %q date %q", c.Trader.Email, c.Fields.Contacted, c.Fields.OrderDate)
	}
	if c.Fields.Wants != "refund" || c.State != casestore.StateIntake {
		t.Fatalf("the filled line was lost: %+v %s", c.Fields, c.State)
	}
}

// Mail that never belonged to a case is deleted after the retention period too.
func TestCaselessMessagesSwept(t *testing.T) {
	ev := newEnv(t)
	m := ev.deliver("noreply@shop.example", route.Complaints(), "From: noreply@shop.example\nAuto-Submitted: auto-generated\nSubject: Your order\n\nThanks\n")
	if m.CaseID != "" || m.SHA256 == "" {
		t.Fatalf("%+v", m)
	}
	sum := m.SHA256
	ev.now = ev.now.Add(100 * day)
	if n, _ := ev.e.SweepCaseless(); n != 0 {
		t.Fatal("swept before the retention period")
	}
	ev.now = ev.now.Add(90 * day)
	if n, err := ev.e.SweepCaseless(); n != 1 || err != nil {
		t.Fatalf("swept %d, %v", n, err)
	}
	var after *casestore.Message
	ev.store.View(func(tx *casestore.Tx) (err error) { after, err = tx.Message(m.ID); return err })
	if after.From != "" || after.SHA256 != "" || after.MailFrom != "" {
		t.Fatalf("personal data left: %+v", after)
	}
	if _, err := ev.store.Raw(sum); err == nil {
		t.Fatal("content left")
	}
}

func TestFieldsFromRunningText(t *testing.T) {
	ev := newEnv(t)
	for text, want := range map[string]casestore.Fields{
		"I ordered on 3.10.2026 (order #A-5678) and paid € 49,95; I want a refund.":  {OrderDate: "2026-10-03", OrderRef: "A-5678", Amount: 4995, Currency: "EUR", Wants: "refund"},
		"Mijn bestelling nr. 12345 van 2026-09-01 is kapot, ik wil mijn geld terug.": {OrderDate: "2026-09-01", OrderRef: "12345", Wants: "refund"},
		"Order number: X1\nMy order 999 never came.":                                 {OrderRef: "X1"},
		"The shop did not answer my orders.":                                         {},
	} {
		_, f, _ := ev.e.reader.read(text, "")
		if f.OrderDate != want.OrderDate || f.OrderRef != want.OrderRef || f.Amount != want.Amount || (want.Wants != "" && f.Wants != want.Wants) {
			t.Errorf("%q: %+v, want %+v", text, f, want)
		}
	}
}
