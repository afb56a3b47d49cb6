package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// End-to-end runs of how Parley reads replies (procedure/answers.go, package
// intent): a choice or an answer written in a sentence acts and is confirmed
// with how to undo it, the rest of the sentence goes where it belongs, a
// choice that is not open yet is answered with when it opens, and a shop's
// colleague speaks for the shop while a stranger is quarantined.
// procedure/reading_test.go runs the same paths in process.

// momentForms are the ways a mail may show the moment t to an English
// reader: the ISO form in UTC ("2026-12-03 09:07 UTC"), or the English date
// layout ("Thursday 3 December 2026, 10:07 CET") in UTC, the operator's
// usual zone or the local one. The tests pin that the moment is shown, not
// the layout.
func momentForms(t time.Time) []string {
	zones := []*time.Location{time.UTC, time.Local}
	if z, err := time.LoadLocation("Europe/Brussels"); err == nil {
		zones = append(zones, z)
	}
	var out []string
	for _, z := range zones {
		m := t.In(z)
		out = append(out, m.Format("2006-01-02 15:04 MST"), m.Format("Monday 2 January 2006, 15:04 MST"))
	}
	return out
}

// showsMoment reports whether text shows one of the minutes from..to (a few
// seconds apart: the moment was taken before and after Parley took it).
func showsMoment(text string, from, to time.Time) bool {
	for _, t := range []time.Time{from, to} {
		for _, f := range momentForms(t) {
			if strings.Contains(text, f) {
				return true
			}
		}
	}
	return false
}

// containsUndoDeadline reports whether text names the end of the day to undo
// a choice made between from and to.
func containsUndoDeadline(text string, from, to time.Time) bool {
	return showsMoment(text, from.Add(24*time.Hour), to.Add(24*time.Hour))
}

// notSeen is mailPred that skips the messages of seen (earlier mail of the
// same kind).
func notSeen(pred func(*sinkMsg) bool, seen ...*sinkMsg) func(*sinkMsg) bool {
	return func(m *sinkMsg) bool {
		for _, s := range seen {
			if s.Seq == m.Seq {
				return false
			}
		}
		return pred(m)
	}
}

// toChoice waits, for an open case, until the trader's window ended: the
// consumer's choice mail and the trader's window-ended notice are out.
func (e *procEnv) toChoice(oc *openedCase) *sinkMsg {
	e.t.Helper()
	window := e.clock("trader_window") + slack
	choice := e.sink.WaitFor(window, "consumer's choice mail", isChoiceMail(oc.ID, oc.ConsumerEmail))
	e.mailTo(window, "trader reminder", oc.ID, traderEmail, "Reminder:")
	e.mailTo(window, "trader's window-ended notice", oc.ID, traderEmail, "The period to answer the complaint in case "+oc.ID+" has ended")
	if c := e.d.MustCase(oc.ID); c.State != "choice" {
		e.t.Fatalf("state after the choice mail: %q, want choice", c.State)
	}
	return choice
}

// TestReplyChoiceInASentence: the consumer answers the choice mail with a
// sentence; mediation opens, the consumer is told how Parley read it and how
// to undo it, the rest of the sentence reaches the trader and the mediator.
// UNDO then puts the case back to the choice: the trader and the mediator are
// told to disregard the news, the consumer gets the choices again.
func TestReplyChoiceInASentence(t *testing.T) {
	e := newProcEnv(t, "choice_window", "30s", "mediation_reply", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	choice := e.toChoice(oc)

	words := "a 20% discount is not enough " + token()
	sentAt := time.Now()
	e.reply("Jan Jansen", consumer, choice, "Mediation please, "+words+".\n")

	understood := e.mailTo(20*time.Second, "consumer's confirmation of the choice read", oc.ID, consumer, "We read your message as:")
	for _, want := range []string{`"I want mediation by an independent mediator"`, "UNDO"} {
		if !strings.Contains(understood.Text, want) {
			t.Errorf("confirmation lacks %q:\n%s", want, understood.Text)
		}
	}
	if !containsUndoDeadline(understood.Text, sentAt, time.Now()) {
		t.Errorf("confirmation does not give the end of the day to undo (%s):\n%s", sentAt.Add(24*time.Hour).UTC(), understood.Text)
	}
	if strings.Contains(understood.Text, words) {
		t.Errorf("the confirmation echoes the words it relays:\n%s", understood.Text)
	}
	e.mailTo(20*time.Second, "consumer's mediation notice", oc.ID, consumer, "is now in mediation")
	e.mailTo(20*time.Second, "trader's mediation notice", oc.ID, traderEmail, "The customer has asked for mediation")
	e.mailTo(20*time.Second, "mediator's briefing", oc.ID, mediatorEmail, "You are the mediator of case "+oc.ID)
	tr := e.mailTo(20*time.Second, "relay of the rest of the sentence to the trader", oc.ID, traderEmail, words)
	mr := e.mailTo(20*time.Second, "relay of the rest of the sentence to the mediator", oc.ID, mediatorEmail, words)
	for _, m := range []*sinkMsg{tr, mr} {
		if strings.Contains(m.Text, "We read your message as") {
			t.Errorf("%s carries the consumer's confirmation:\n%s", m, m.Text)
		}
	}
	if n := len(e.sink.Matching(mailPred(oc.ID, consumer, words))); n != 0 {
		t.Errorf("the consumer got its own words back %d times:\n%s", n, e.sink.Summary())
	}
	c := e.settle(oc.ID)
	if c.State != "mediation" || !strings.EqualFold(c.Mediator.Email, mediatorEmail) {
		t.Fatalf("after the choice in a sentence: state %q mediator %q, want mediation with %s\n%s", c.State, c.Mediator.Email, mediatorEmail, eventSummary(c))
	}

	// UNDO within the day, as a reply to the confirmation.
	undoAt := time.Now()
	e.reply("Jan Jansen", consumer, understood, "UNDO\n")
	disregard := "Please disregard our message about case " + oc.ID
	for _, addr := range []string{traderEmail, mediatorEmail} {
		m := e.mailTo(20*time.Second, "undo notice to "+addr, oc.ID, addr, disregard, "the choice it reported was taken back")
		if strings.Contains(m.Text, words) {
			t.Errorf("the undo notice to %s repeats the consumer's words:\n%s", addr, m.Text)
		}
	}
	again := e.sink.WaitFor(20*time.Second, "the choice mail again", notSeen(isChoiceMail(oc.ID, consumer), choice))
	if !strings.Contains(again.Text, `Your choice "I want mediation by an independent mediator" in case `+oc.ID+" is undone") {
		t.Errorf("the choice mail after the undo does not say the choice is undone:\n%s", again.Text)
	}
	if again.ReplyTo() != oc.ConsumerAddr {
		t.Errorf("second choice mail Reply-To %q, want the consumer's case address %q", again.ReplyTo(), oc.ConsumerAddr)
	}

	c = e.settle(oc.ID)
	if c.Mediator.Email != "" {
		t.Errorf("the mediator %q is still assigned after the undo", c.Mediator.Email)
	}
	if n := countEvents(c, "state", "undo mediation: mediation -> choice"); n != 1 {
		t.Errorf("%d undo events, want 1:\n%s", n, eventSummary(c))
	}
	for _, tm := range c.Timers {
		if tm.Due.Before(undoAt) {
			t.Errorf("timer %s due %s, before the undo at %s: the case would move at once", tm.Kind, tm.Due, undoAt)
		}
	}
	e.expectKinds(c, map[string]string{
		consumer:      "confirm choice mediation notice choice",
		traderEmail:   "trader_notice reminder window_ended mediation relay notice",
		mediatorEmail: "mediation relay notice",
	})
	e.expectEnd(oc.ID, "choice", "")
}

// TestReplyProposalAcceptedInSentences: both parties accept the mediator's
// proposal in sentences; the case closes as settled and everyone gets the
// closing notice with the terms; what the trader wrote beyond its yes reaches
// the consumer and the mediator.
func TestReplyProposalAcceptedInSentences(t *testing.T) {
	e := newProcEnv(t, "choice_window", "30s", "mediation_reply", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	briefing := e.toMediation(oc)

	proposal := "PROPOSAL-" + token()
	e.mediatorSays(briefing, "#propose\nAcme sends a new kettle within 7 days. "+proposal)
	cp := e.mailTo(20*time.Second, "proposal to the consumer", oc.ID, consumer, proposal)
	tp := e.mailTo(20*time.Second, "proposal to the trader", oc.ID, traderEmail, proposal)

	// The trader: yes, and a word for the consumer.
	more := "We ship the new kettle tomorrow"
	sentAt := time.Now()
	e.reply(traderName, traderEmail, tp, "Yes, we accept. "+more+".\n")
	tn := e.mailTo(20*time.Second, "trader's confirmation of its acceptance", oc.ID, traderEmail, "We have recorded that you accept the settlement proposal in case "+oc.ID)
	if !strings.Contains(tn.Text, "UNDO") || !containsUndoDeadline(tn.Text, sentAt, time.Now()) {
		t.Errorf("trader's confirmation does not say how to undo by when:\n%s", tn.Text)
	}
	e.mailTo(20*time.Second, "consumer told the trader accepted", oc.ID, consumer, traderName+" accepted the settlement proposal in case "+oc.ID)
	e.mailTo(20*time.Second, "mediator told the trader accepted", oc.ID, mediatorEmail, traderName+" accepted the settlement proposal in case "+oc.ID)
	e.mailTo(20*time.Second, "relay of the trader's words to the consumer", oc.ID, consumer, more)
	e.mailTo(20*time.Second, "relay of the trader's words to the mediator", oc.ID, mediatorEmail, more)
	c := e.settle(oc.ID)
	if c.State != "mediation" {
		t.Fatalf("state %q after the trader's acceptance, want mediation\n%s", c.State, eventSummary(c))
	}

	// The consumer: yes, in a sentence, to its proposal mail.
	e.reply("Jan Jansen", consumer, cp, "I accept this proposal, thank you.\n")
	closing := map[string]*sinkMsg{}
	for _, addr := range []string{consumer, traderEmail, mediatorEmail} {
		m := e.mailTo(20*time.Second, "closing notice to "+addr, oc.ID, addr, closedText(oc.ID))
		if !strings.Contains(m.Text, "settled in mediation") {
			t.Errorf("closing notice to %s does not give the outcome:\n%s", addr, m.Text)
		}
		closing[addr] = m
	}
	if !strings.Contains(closing[consumer].Text, proposal) || !strings.Contains(closing[consumer].Text, "Acme sends a new kettle within 7 days.") {
		t.Errorf("consumer's closing notice lacks the terms:\n%s", closing[consumer].Text)
	}
	if strings.Contains(closing[consumer].Text, "#propose") {
		t.Errorf("consumer's closing notice shows the mediator's command:\n%s", closing[consumer].Text)
	}
	e.mailTo(20*time.Second, "consumer's confirmation of its acceptance", oc.ID, consumer, `We read your message as: "I accept the proposal"`)

	c = e.settle(oc.ID)
	if n := len(e.sink.Matching(mailPred(oc.ID, traderEmail, "thank you"))); n != 0 {
		t.Errorf("the consumer's acceptance was relayed to the trader (%d):\n%s", n, e.sink.Summary())
	}
	e.expectKinds(c, map[string]string{
		consumer:      "confirm choice mediation proposal notice relay closed notice",
		traderEmail:   "trader_notice reminder window_ended mediation proposal notice closed",
		mediatorEmail: "mediation notice relay closed",
	})
	e.expectEnd(oc.ID, "closed", "settled")
}

// TestReplyMediationDuringWindow: MEDIATION in the trader's window is answered
// with when mediation can be chosen; the keyword is not passed on and the
// case stays open.
func TestReplyMediationDuringWindow(t *testing.T) {
	// A long window: it must not end during the test.
	e := newProcEnv(t, "trader_window", "60s", "choice_window", "30s")
	const consumer = "jan@consumer.example"
	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	opened := e.d.MustCase(oc.ID)
	if opened.State != "open" || opened.Deadline.IsZero() {
		t.Fatalf("case %s: state %q deadline %v, want open with a deadline", oc.ID, opened.State, opened.Deadline)
	}

	e.reply("Jan Jansen", consumer, oc.Confirm, "MEDIATION\n")
	n := e.mailTo(20*time.Second, "consumer told when mediation opens", oc.ID, consumer, "Mediation can be chosen once the period for "+traderName+" to answer has ended")
	if !showsMoment(n.Text, opened.Deadline, opened.Deadline) {
		t.Errorf("the notice does not name when mediation opens (%s):\n%s", opened.Deadline.UTC(), n.Text)
	}
	if strings.Contains(n.Text, "We read your message as") {
		t.Errorf("a choice that is not open yet was confirmed as made:\n%s", n.Text)
	}

	// Both would have been written in the same step: once every row is
	// sent, nothing more is on its way.
	c := e.settle(oc.ID)
	if got := e.sink.Matching(func(m *sinkMsg) bool { return m.To(traderEmail) && m.CaseID() == oc.ID }); len(got) != 1 {
		t.Errorf("trader got %d messages, want only its notice:\n%s", len(got), e.sink.Summary())
	}
	if n := countEvents(c, "relayed", ""); n != 0 {
		t.Errorf("%d relayed events for a bare keyword:\n%s", n, eventSummary(c))
	}
	if n := countEvents(c, "choice", ""); n != 0 {
		t.Errorf("a choice was recorded in the trader's window:\n%s", eventSummary(c))
	}
	if !c.Deadline.Equal(opened.Deadline) {
		t.Errorf("deadline moved from %s to %s", opened.Deadline, c.Deadline)
	}
	e.expectKinds(c, map[string]string{
		consumer:    "confirm notice",
		traderEmail: "trader_notice",
	})
	e.expectEnd(oc.ID, "open", "")
}

// TestReplyFromColleagueAndStranger: a colleague registered for the shop
// answers the trader notice and is relayed; from then on the colleague gets
// copies of the trader's mail. A stranger writing to the trader's case
// address is quarantined and told once, in its own language, without the
// case's title; the consumer hears nothing of it.
func TestReplyFromColleagueAndStranger(t *testing.T) {
	e := newProcEnv(t, "trader_window", "60s", "choice_window", "30s")
	const (
		consumer = "jan@consumer.example"
		staff    = "sanne@acme.example"
		stranger = "kees@elders.example"
	)
	// Register acme again with a second address: support@ stays primary.
	out := e.d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--email", staff, "--lang", "en")
	if !strings.Contains(string(out), "registered") {
		t.Fatalf("trader add with two addresses: unexpected output %q", out)
	}
	var tr struct {
		Email string `json:"email"`
		Staff []struct {
			Email string `json:"email"`
			CC    bool   `json:"cc"`
		} `json:"staff"`
	}
	js := e.d.MustAdmin("trader", "show", "acme", "--json")
	if err := json.Unmarshal(js, &tr); err != nil {
		t.Fatalf("trader show --json: %v\n%s", err, js)
	}
	if tr.Email != traderEmail || len(tr.Staff) != 1 || tr.Staff[0].Email != staff || tr.Staff[0].CC {
		t.Fatalf("trader acme registered as %s", js)
	}

	oc := e.openCaseWith("Jan Jansen", consumer, plainComplaint)
	if n := len(e.sink.Matching(func(m *sinkMsg) bool { return m.To(staff) })); n != 0 {
		t.Errorf("the colleague got %d messages before writing in the case:\n%s", n, e.sink.Summary())
	}

	// The colleague answers the trader notice.
	answer := "ANSWER-" + token()
	e.reply("Sanne", staff, oc.Notice, "We will send a new kettle today. "+answer+"\n")
	relay := e.mailTo(20*time.Second, "relay of the colleague's answer to the consumer", oc.ID, consumer, answer)
	if relay.ReplyTo() != oc.ConsumerAddr {
		t.Errorf("relay Reply-To %q, want the consumer's case address %q", relay.ReplyTo(), oc.ConsumerAddr)
	}

	// The consumer's reply reaches the shop's address and the colleague's.
	thanks := "THANKS-" + token()
	e.reply("Jan Jansen", consumer, relay, "Thank you, I am looking forward to it. "+thanks+"\n")
	for _, addr := range []string{traderEmail, staff} {
		m := e.mailTo(20*time.Second, "relay of the consumer's reply to "+addr, oc.ID, addr, thanks)
		if m.ReplyTo() != oc.TraderAddr {
			t.Errorf("relay to %s: Reply-To %q, want the trader's case address %q", addr, m.ReplyTo(), oc.TraderAddr)
		}
	}

	// A stranger writes to the trader's case address, twice, in Dutch.
	forged := "FORGED-" + token()
	var ids []string
	for i := 0; i < 2; i++ {
		id := "<stranger-" + token() + "@elders.example>"
		ids = append(ids, id)
		e.send("Kees <"+stranger+">", stranger, oc.TraderAddr, "Re: "+oc.Notice.Get("Subject"),
			"Graag het geld naar deze rekening overmaken, dank u wel. "+forged+"\n",
			header{"Message-ID", id}, header{"Content-Language", "nl"})
	}
	notice := e.sink.WaitFor(20*time.Second, "quarantine notice to the stranger", func(m *sinkMsg) bool { return m.To(stranger) })
	if from := notice.Get("From"); !strings.Contains(from, "postmaster@"+domain) {
		t.Errorf("quarantine notice From %q, want postmaster@%s", from, domain)
	}
	if notice.ReplyTo() == oc.TraderAddr || notice.ReplyTo() == oc.ConsumerAddr {
		t.Errorf("quarantine notice gives the stranger a case address to write to: Reply-To %q", notice.Get("Reply-To"))
	}
	if lang := notice.Get("Content-Language"); lang != "nl" {
		t.Errorf("quarantine notice in %q, want the stranger's nl", lang)
	}
	for _, want := range []string{"Uw bericht voor zaak " + oc.ID + " is niet doorgestuurd", "registreren"} {
		if !strings.Contains(notice.Text, want) {
			t.Errorf("quarantine notice lacks %q:\n%s", want, notice.Text)
		}
	}
	for _, leak := range []string{"Broken kettle", forged} {
		if strings.Contains(notice.Get("Subject"), leak) || strings.Contains(notice.Text, leak) {
			t.Errorf("quarantine notice shows %q: subject %q\n%s", leak, notice.Get("Subject"), notice.Text)
		}
	}

	c := e.d.WaitCase(oc.ID, 20*time.Second, "the stranger's messages processed", func(c *caseDetail) bool {
		for _, id := range ids {
			if m, ok := findMessage(c, id); !ok || !m.Processed {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		m, _ := findMessage(c, id)
		if !m.HasFlag("quarantined") {
			t.Errorf("stranger's message %s: flags %v, want quarantined (note %q)", id, m.Flags, m.Note)
		}
	}
	c = e.settle(oc.ID)
	if got := e.sink.Matching(func(m *sinkMsg) bool { return m.To(stranger) }); len(got) != 1 {
		t.Errorf("the stranger got %d notices, want exactly 1:\n%s", len(got), e.sink.Summary())
	}
	var rows int
	for _, o := range c.Outbound {
		if strings.EqualFold(o.To, stranger) {
			rows++
			if o.Kind != "quarantine" {
				t.Errorf("outbound row to the stranger is a %q, want quarantine", o.Kind)
			}
		}
	}
	if rows != 1 {
		t.Errorf("%d outbound rows to the stranger, want 1:\n%s", rows, c.OutboundSummary())
	}
	if n := countEvents(c, "quarantine", ""); n != 2 {
		t.Errorf("%d quarantine events, want 2:\n%s", n, eventSummary(c))
	}
	if got := e.sink.Matching(func(m *sinkMsg) bool {
		return strings.Contains(m.Text, forged) || strings.Contains(string(m.Raw), forged)
	}); len(got) > 0 {
		t.Errorf("the stranger's text was sent on: %v", got)
	}
	e.expectKinds(c, map[string]string{
		consumer:    "confirm relay",
		traderEmail: "trader_notice relay",
		staff:       "relay",
	})
	e.expectEnd(oc.ID, "open", "")
}
