package procedure

import (
	"strings"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/templates"
	"parley/threading"
)

// notifyOpened tells the consumer the case is open and sends the trader the
// complaint with its attachments.
func (r *run) notifyOpened() error {
	// The window starts now: enter sets the clocks, so compute its end here.
	end := r.e.cfg.Procedure.TraderWindow.From(r.now)
	d := templates.Data{Deadline: formatDeadline(end), Trader: r.c.Trader.Name}
	if err := r.notify(threading.Consumer, templates.Confirm, d); err != nil {
		return err
	}
	d.Text = r.e.reader.dropUnfilled(r.complaint)
	d.Attachments = attachmentList(r.atts)
	d.Lines = r.e.fieldLines(r.c, r.c.Trader.Lang)
	b, err := r.e.render(r.c, threading.Trader, templates.TraderNote, withCase(d, r.c), r.atts, true)
	if err != nil {
		return err
	}
	o, err := r.e.queue(r.tx, r.c, threading.Trader, b)
	if err != nil {
		return err
	}
	r.out = append(r.out, o.ID)
	return nil
}

func withCase(d templates.Data, c *casestore.Case) templates.Data {
	d.CaseID, d.Title = c.ID, c.Title
	return d
}

func (r *run) notifyIntakeClosed() error {
	return r.notify(threading.Consumer, templates.IntakeClosed, templates.Data{})
}

func (r *run) remindTrader() error {
	return r.notify(threading.Trader, templates.Reminder, templates.Data{})
}

// askChoice sends the consumer a choice address per option; the trader hears
// that the window ended.
func (r *run) askChoice() error {
	if err := r.notify(threading.Trader, templates.WindowEnded, templates.Data{}); err != nil {
		return err
	}
	return r.sendChoices("")
}

func (r *run) sendChoices(intro string) error {
	lang := r.c.Consumer.Lang
	opts := []struct{ choice, label, keyword string }{
		{threading.ChoiceResolved, "ChoiceResolved", "KeywordResolved"},
		{threading.ChoiceMediation, "ChoiceMediation", "KeywordMediation"},
	}
	if r.canExtend() {
		opts = append(opts, struct{ choice, label, keyword string }{threading.ChoiceWait, "ChoiceWait", "KeywordWait"})
	}
	d := templates.Data{Intro: intro, Deadline: formatDeadline(r.e.cfg.Procedure.ChoiceWindow.From(r.now))}
	var kws []string
	for _, o := range opts {
		d.Choices = append(d.Choices, templates.Option{Label: r.e.loc.T(lang, o.label, nil), Address: r.e.choiceAddress(r.c.ID, o.choice)})
		kws = append(kws, r.e.keyword(lang, o.keyword))
	}
	d.Keywords = strings.Join(kws, ", ")
	return r.notify(threading.Consumer, templates.Choice, d)
}

func (r *run) canExtend() bool { return r.c.Extensions < r.e.cfg.Procedure.MaxExtensions }

func (r *run) notifyExtended() error {
	r.c.Extensions++
	end := formatDeadline(r.e.cfg.Procedure.TraderWindow.From(r.now))
	if err := r.notify(threading.Consumer, templates.Extended, templates.Data{Intro: "ExtendedConsumer", Deadline: end}); err != nil {
		return err
	}
	return r.notify(threading.Trader, templates.Extended, templates.Data{Intro: "ExtendedTrader", Deadline: end})
}

func (r *run) refuseExtension() error { return r.sendChoices("NoMoreExtensions") }

// startMediation assigns a mediator (round robin) or asks the pool to #take.
func (r *run) startMediation() error {
	end := formatDeadline(r.e.cfg.Procedure.MediationReply.From(r.now))
	if err := r.notify(threading.Consumer, templates.Mediation, templates.Data{Intro: "MediationConsumer", Deadline: end}); err != nil {
		return err
	}
	if err := r.notify(threading.Trader, templates.Mediation, templates.Data{Intro: "MediationTrader", Deadline: end}); err != nil {
		return err
	}
	mediators, err := r.tx.Mediators()
	if err != nil || len(mediators) == 0 {
		return err // nobody to assign: the operator sees the case in mediation without a mediator
	}
	// The briefing describes the case as it is about to be.
	r.c.State, r.c.Deadline = mediate, r.e.cfg.Procedure.MediationReply.From(r.now)
	if r.e.cfg.Procedure.Mediators == "round-robin" {
		n, err := r.tx.NextCounter("mediator-round-robin")
		if err != nil {
			return err
		}
		m := mediators[int(n-1)%len(mediators)]
		r.mediator = &m
		return r.assignMediator()
	}
	for _, m := range mediators {
		if err := r.tellMediator(m, withCase(templates.Data{Intro: "MediatorNeeded"}, r.c)); err != nil {
			return err
		}
	}
	return nil
}

// tellMediator sends a notice to a registered mediator who need not be the
// case's mediator: in their language, from the case's mediator address, not
// threaded into the case's mediator thread.
func (r *run) tellMediator(m casestore.Mediator, d templates.Data) error {
	tmp := *r.c
	tmp.Mediator = casestore.Party{Role: "mediator", Name: m.Name, Email: m.Email, Lang: langOr(m.Lang, r.e.loc.Default())}
	b, err := r.e.render(&tmp, threading.Mediator, templates.Notice, d, nil, true)
	if err != nil {
		return err
	}
	o, err := r.e.queueTo(r.tx, r.c, &casestore.Party{Email: m.Email, Name: m.Name}, r.e.partyAddress(r.c.ID, threading.Mediator), b)
	if err != nil {
		return err
	}
	r.out = append(r.out, o.ID)
	return nil
}

func langOr(lang, def string) string {
	if lang == "" {
		return def
	}
	return lang
}

// assignMediator makes r.mediator the case's mediator and briefs them.
func (r *run) assignMediator() error {
	if r.mediator == nil {
		return nil
	}
	m := r.mediator
	r.c.Mediator = casestore.Party{Role: "mediator", Name: m.Name, Email: m.Email, Lang: langOr(m.Lang, r.e.loc.Default())}
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvCommand, Role: "mediator", Text: "mediator assigned: " + m.Name}); err != nil {
		return err
	}
	lines := append(r.e.fieldLines(r.c, r.c.Mediator.Lang), r.e.statusLines(r.c, r.c.Mediator.Lang)...)
	return r.notify(threading.Mediator, templates.Mediation, templates.Data{Intro: "MediatorAssigned", Text: r.c.Fields.Problem, Lines: lines})
}

func (r *run) traderSilent() bool { return !r.c.TraderAnswered }

// silenceIsRefusal records the refusal and refers the case if it is eligible.
func (r *run) silenceIsRefusal() error {
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvRefused, Role: "trader", Text: "no answer within mediation_reply"}); err != nil {
		return err
	}
	r.silent, r.outcome = true, casestore.OutcomeRefused
	if r.eligible() {
		r.outcome = casestore.OutcomeReferred
	}
	return r.notifyReferral()
}

func (r *run) sendProposal() error {
	r.fromMediator = true
	defer func() { r.fromMediator = false }()
	r.c.Proposal = &casestore.Proposal{Text: r.proposal, Created: r.now}
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvProposal, Role: "mediator", Text: r.proposal}); err != nil {
		return err
	}
	for _, role := range []threading.Role{threading.Consumer, threading.Trader} {
		lang := r.c.PartyByRole(role.Name()).Lang
		d := templates.Data{Text: r.proposal,
			Keywords: r.e.keyword(lang, "KeywordAccept") + ", " + r.e.keyword(lang, "KeywordReject"),
			Choices: []templates.Option{
				{Label: r.e.loc.T(lang, "ProposalAccept", nil), Address: r.e.choiceAddress(r.c.ID, threading.ChoiceAccept)},
				{Label: r.e.loc.T(lang, "ProposalReject", nil), Address: r.e.choiceAddress(r.c.ID, threading.ChoiceReject)},
			}}
		if err := r.notify(role, templates.Proposal, d); err != nil {
			return err
		}
	}
	return nil
}

// bothAccepted applies the answer first, then asks whether both accepted.
func (r *run) bothAccepted() bool {
	p := r.c.Proposal
	if p == nil {
		return false
	}
	cons, trad := p.Consumer, p.Trader
	if r.by == threading.Consumer {
		cons = answerWord(r.accepted)
	} else if r.by == threading.Trader {
		trad = answerWord(r.accepted)
	}
	return cons == "accepted" && trad == "accepted"
}

func answerWord(ok bool) string {
	if ok {
		return "accepted"
	}
	return "rejected"
}

// notifyAnswer records a party's answer to the proposal and tells the others.
func (r *run) notifyAnswer() error {
	p := r.c.Proposal
	if p == nil {
		return nil
	}
	switch r.by {
	case threading.Consumer:
		p.Consumer = answerWord(r.accepted)
	case threading.Trader:
		p.Trader = answerWord(r.accepted)
	}
	id := "ProposalRejectedBy"
	if r.accepted {
		id = "ProposalAcceptedBy"
	}
	for _, role := range []threading.Role{threading.Consumer, threading.Trader, threading.Mediator} {
		if role == r.by {
			continue
		}
		name := r.e.partyName(r.c, r.by, r.c.PartyByRole(role.Name()).Lang)
		if err := r.notify(role, templates.Notice, templates.Data{Intro: id, Name: name}); err != nil {
			return err
		}
	}
	return nil
}

// eligibility returns why the case cannot go to arbitration (nil: it can).
func (r *run) eligibility(lang string) []string {
	p, f := r.e.cfg.Procedure, r.c.Fields
	money := func(a config.Amount) string { return a.String() + " " + p.Currency }
	d := templates.Data{Min: money(p.ArbitrationMin), Max: money(p.ArbitrationMax), Currency: p.Currency, Days: int(p.MaxComplaintAge.D() / (24 * time.Hour))}
	var why []string
	add := func(id string) { why = append(why, r.e.loc.T(lang, id, d)) }
	switch {
	case f.Amount == 0:
		add("Reason_amount_unknown")
	case f.Currency != "" && f.Currency != p.Currency:
		add("Reason_currency")
	case config.Amount(f.Amount) < p.ArbitrationMin:
		add("Reason_amount_low")
	case config.Amount(f.Amount) > p.ArbitrationMax:
		add("Reason_amount_high")
	}
	if ordered, err := time.Parse("2006-01-02", f.OrderDate); err != nil {
		add("Reason_date_unknown")
	} else if r.now.Sub(ordered) > p.MaxComplaintAge.D() {
		add("Reason_too_old")
	}
	if f.Contacted != "yes" {
		add("Reason_not_contacted")
	}
	return why
}

func (r *run) eligible() bool { return len(r.eligibility("en")) == 0 }

// notifyReferral marks the closing notice to explain why the case is or is
// not referred; an ineligible case cannot close as referred.
func (r *run) notifyReferral() error {
	r.referral = true
	if r.outcome == casestore.OutcomeReferred && !r.eligible() {
		r.outcome = casestore.OutcomeIneligible
	}
	return nil
}

// closingLines are the explanations above the outcome, in lang.
func (r *run) closingLines(lang string) []string {
	var lines []string
	if r.silent {
		lines = append(lines, r.e.loc.T(lang, "SilenceRecorded", nil))
	}
	if r.outcome == casestore.OutcomeSettled && r.c.Proposal != nil {
		lines = append(lines, r.e.loc.T(lang, "SettledTerms", nil), r.c.Proposal.Text)
	}
	if !r.referral {
		return lines
	}
	why := r.eligibility(lang)
	if len(why) == 0 {
		p := r.e.cfg.Procedure
		d := templates.Data{Amount: config.Amount(r.c.Fields.Amount).String() + " " + p.Currency, OrderDate: r.c.Fields.OrderDate, Fee: p.ArbitrationFee.String() + " " + p.Currency}
		return append(lines, r.e.loc.T(lang, "ReferralEligible", d))
	}
	lines = append(lines, r.e.loc.T(lang, "ReferralIneligible", nil))
	for _, w := range why {
		lines = append(lines, "  - "+w)
	}
	return lines
}

// extendDeadline moves the case's main clock (#extend).
func (r *run) extendDeadline() error {
	var timers []casestore.Timer
	for _, tm := range r.c.Timers {
		tm.Due = tm.Due.Add(r.extend)
		timers = append(timers, tm)
	}
	r.c.Deadline = r.c.Deadline.Add(r.extend)
	if err := r.tx.SetTimers(r.c, timers...); err != nil {
		return err
	}
	return r.notifyParties(templates.Notice, templates.Data{Intro: "DeadlineExtended"})
}

// notifyClosed sends every party the outcome.
func (r *run) notifyClosed() error {
	for _, role := range []threading.Role{threading.Consumer, threading.Trader, threading.Mediator} {
		p := r.c.PartyByRole(role.Name())
		if p.Email == "" {
			continue
		}
		// The fingerprint of the record so far goes into every party's
		// mailbox, where nobody at Parley can change it: a case file must
		// chain up to it.
		d := templates.Data{Outcome: r.e.loc.T(p.Lang, "Outcome_"+r.c.Outcome, nil), Deadline: formatDeadline(r.c.Deadline), Lines: r.closingLines(p.Lang),
			Seq: r.c.Events, Hash: r.c.LastHash}
		if err := r.notify(role, templates.Closed, d); err != nil {
			return err
		}
	}
	return r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvClosed, Role: r.actor(), Text: r.c.Outcome})
}

// fieldLines prints the complaint's fields for the trader and the mediator.
func (e *Engine) fieldLines(c *casestore.Case, lang string) []string {
	first := func(id string) string { l, _, _ := strings.Cut(e.loc.T(lang, id, nil), "|"); return l }
	f := c.Fields
	var lines []string
	add := func(id, v string) {
		if v != "" {
			lines = append(lines, first(id)+": "+v)
		}
	}
	add("LabelOrderDate", f.OrderDate)
	add("LabelOrderRef", f.OrderRef)
	if f.Amount > 0 {
		add("LabelAmount", config.Amount(f.Amount).String()+" "+f.Currency)
	}
	add("LabelWants", f.Wants)
	add("LabelContacted", f.Contacted)
	return lines
}

// statusLines describes the case for a mediator (#status), in lang.
func (e *Engine) statusLines(c *casestore.Case, lang string) []string {
	t := func(id string, d any) string { return e.loc.T(lang, id, d) }
	yesNo := func(b bool) string {
		if b {
			return t("WordYesShown", nil)
		}
		return t("WordNoShown", nil)
	}
	lines := []string{
		t("StatusState", nil) + ": " + t("State_"+c.State, nil),
		t("StatusConsumer", nil) + ": " + e.partyName(c, threading.Consumer, lang),
		t("StatusTrader", nil) + ": " + c.Trader.Name,
	}
	if c.Outcome != "" {
		lines = append(lines, t("StatusOutcome", nil)+": "+t("Outcome_"+c.Outcome, nil))
	}
	if !c.Deadline.IsZero() {
		lines = append(lines, t("StatusDeadline", nil)+": "+formatDeadline(c.Deadline))
	}
	if c.Mediator.Email != "" {
		lines = append(lines, t("StatusMediator", nil)+": "+c.Mediator.Name)
	}
	if c.State == mediate {
		lines = append(lines, t("StatusTraderAnswered", nil)+": "+yesNo(c.TraderAnswered))
	}
	if p := c.Proposal; p != nil {
		answer := func(a string) string {
			if a == "" {
				a = "pending"
			}
			return t("Answer_"+a, nil)
		}
		lines = append(lines, t("StatusProposal", templates.Data{Answer: answer(p.Consumer), Outcome: answer(p.Trader)}))
	}
	return lines
}

// partyName is how a party is named to a reader in lang.
func (e *Engine) partyName(c *casestore.Case, role threading.Role, lang string) string {
	switch role {
	case threading.Trader:
		return c.Trader.Name
	case threading.Mediator:
		return e.loc.T(lang, "TheMediator", nil)
	}
	if c.Consumer.Name != "" {
		return c.Consumer.Name
	}
	return e.loc.T(lang, "TheConsumer", nil)
}

// keyword is the first (shown) keyword of id in lang.
func (e *Engine) keyword(lang, id string) string {
	k, _, _ := strings.Cut(e.loc.T(lang, id, nil), "|")
	return k
}

func (e *Engine) choiceAddress(caseID, choice string) string {
	return e.keys.ChoiceLocal(caseID, choice) + "@" + e.domain
}

func (e *Engine) partyAddress(caseID string, role threading.Role) string {
	return e.keys.PartyLocal(caseID, role) + "@" + e.domain
}
