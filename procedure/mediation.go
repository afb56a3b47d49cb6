package procedure

import (
	"time"

	"parley/casestore"
	"parley/route"
	"parley/templates"
)

// Mediation: the mediator, the trader's answer, proposals, the overall limit.

// startMediation assigns a mediator (round robin) or asks the pool to #take,
// then tells both parties who mediates, how it works, its deadlines and their
// rights (Directive 2013/11/EU art. 9(2)), and briefs the mediator.
func (r *run) startMediation() error {
	mediators, err := r.tx.Mediators()
	if err != nil {
		return err
	}
	if len(mediators) == 0 {
		r.e.log.Warn("case in mediation, but no mediator is registered (parley mediator add)", "case", r.c.ID)
	}
	if len(mediators) > 0 && r.e.cfg.Procedure.Mediators == "round-robin" {
		n, err := r.tx.NextCounter("mediator-round-robin")
		if err != nil {
			return err
		}
		if err := r.setMediator(mediators[int(n-1)%len(mediators)]); err != nil {
			return err
		}
	}
	for _, role := range []route.Role{route.Consumer, route.Trader} {
		lang := r.c.PartyByRole(role).Lang
		intro := map[route.Role]string{route.Consumer: "MediationConsumer", route.Trader: "MediationTrader"}[role]
		if err := r.notify(role, templates.Mediation, templates.Data{Intro: intro, Lines: r.mediationLines(role, lang)}); err != nil {
			return err
		}
	}
	if r.c.Mediator.Email != "" {
		return r.briefMediator()
	}
	for _, m := range mediators {
		if err := r.tellMediator(m, templates.Data{Intro: "MediatorNeeded"}); err != nil {
			return err
		}
	}
	return nil
}

// mediationLines say, in lang, who mediates, how, until when, and the
// party's rights.
func (r *run) mediationLines(role route.Role, lang string) []string {
	p := r.e.cfg.Procedure
	d := templates.Data{Name: r.c.Mediator.Name, Deadline: at(r.due(cReplyDue)), End: at(r.due(cMediationEnd)), Trader: r.c.Trader.Name}
	t := func(id string) string { return r.e.loc.T(lang, id, d) }
	var lines []string
	if r.c.Mediator.Email != "" {
		lines = append(lines, t("MediatorNamed"))
	} else {
		lines = append(lines, t("MediatorPending"))
	}
	lines = append(lines, "", t("MediationHow"))
	if role == route.Trader {
		lines = append(lines, "", t("MediationReplyTrader"))
	} else {
		lines = append(lines, "", t("MediationReplyConsumer"))
	}
	lines = append(lines, t("MediationEnds"), "")
	if role == route.Consumer {
		lines = append(lines, t("RightWithdraw"))
	}
	lines = append(lines, t("RightCourt"), t("RightAdvice"))
	if role == route.Consumer && p.Referral() && r.c.Fields.Amount == 0 {
		// The mediation can end, and the case be referred, as early as the
		// trader's silence at its reply deadline: that is the date to give.
		by := r.due(cMediationEnd)
		if reply := r.due(cReplyDue); !reply.IsZero() && reply.Before(by) {
			by = reply
		}
		lines = append(lines, "", r.e.loc.T(lang, "AskAmountForReferral", templates.Data{Body: p.ArbitrationBody, End: at(by)}), r.e.keyword(lang, "LabelAmount")+": ")
	}
	return lines
}

// setMediator makes m the case's mediator.
func (r *run) setMediator(m casestore.Mediator) error {
	r.c.Mediator = casestore.Party{Role: route.Mediator, Name: m.Name, Email: m.Email, Lang: langOr(m.Lang, r.e.loc.Default())}
	return r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvCommand, Role: route.Mediator, Text: "mediator assigned: " + m.Name})
}

// assignMediator applies #take: the mediator is briefed and both parties
// learn the mediator's name.
func (r *run) assignMediator() error {
	if err := r.setMediator(r.trigger.(take).mediator); err != nil {
		return err
	}
	if err := r.briefMediator(); err != nil {
		return err
	}
	for _, role := range []route.Role{route.Consumer, route.Trader} {
		if err := r.notify(role, templates.Notice, templates.Data{Intro: "MediatorNamed", Name: r.c.Mediator.Name}); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) briefMediator() error {
	lang := r.c.Mediator.Lang
	lines := r.e.statusLines(r.c, lang)
	// What the parties wrote with their choices was kept for the mediator.
	evs, err := r.tx.Events(r.c.ID)
	if err != nil {
		return err
	}
	var kept []string
	for _, ev := range evs {
		if ev.Kind == casestore.EvNote && (ev.Role == route.Consumer || ev.Role == route.Trader) && ev.Text != "" {
			kept = append(kept, "", r.e.partyName(r.c, ev.Role, lang)+", "+r.e.loc.FormatTime(lang, ev.Time, false)+":", ev.Text)
		}
	}
	if len(kept) > 0 {
		lines = append(append(lines, "", r.e.loc.T(lang, "KeptNotes", nil)), kept...)
	}
	d := r.e.cachedTranslation(r.tx, templates.Data{Intro: "MediatorAssigned", Text: r.c.Fields.Problem, Lines: lines}, r.c.Fields.Problem, r.c.Consumer.Lang, lang)
	return r.notify(route.Mediator, templates.Mediation, d)
}

// tellMediator sends a notice to a registered mediator who need not be the
// case's mediator: in their language, from the case's mediator address, not
// threaded into the case's mediator thread.
func (r *run) tellMediator(m casestore.Mediator, d templates.Data) error {
	tmp := *r.c
	tmp.Mediator = casestore.Party{Role: route.Mediator, Name: m.Name, Email: m.Email, Lang: langOr(m.Lang, r.e.loc.Default())}
	d.CaseID, d.Title = r.c.ID, r.c.Title
	b, err := r.e.render(&tmp, route.Mediator, templates.Notice, d, nil, true)
	if err != nil {
		return err
	}
	o, err := r.e.queueTo(r.tx, r.c, &casestore.Party{Email: m.Email, Name: m.Name}, r.e.partyAddress(r.c.ID, route.Mediator), b)
	if err != nil {
		return err
	}
	r.out = append(r.out, o.ID)
	return nil
}

func (r *run) traderSilent() bool { return !r.c.TraderAnswered }

// traderAnswered records the trader's first word in mediation: the reply
// clock stops (silence no longer counts as refusal) and the mediator's
// idle clock starts.
func (e *Engine) traderAnswered(tx *casestore.Tx, c *casestore.Case) error {
	if c.State != mediate || c.TraderAnswered {
		return nil
	}
	c.TraderAnswered = true
	if err := tx.DropTimer(c, string(cReplyDue)); err != nil {
		return err
	}
	return e.touchMediation(tx, c)
}

// touchMediation restarts the mediator's idle clock after activity in a
// mediation the trader has answered in; none runs past the mediation's end.
func (e *Engine) touchMediation(tx *casestore.Tx, c *casestore.Case) error {
	if c.State != mediate || !c.TraderAnswered {
		return nil
	}
	if c.Proposal != nil && !c.Proposal.Answered() {
		// The proposal's own clock runs; the idle reminder waits for it.
		return tx.DropTimer(c, string(cMediatorIdle))
	}
	at := e.cfg.Procedure.MediatorIdle.From(e.now())
	if end, ok := c.Timer(string(cMediationEnd)); ok && !at.Before(end.Due) {
		return tx.DropTimer(c, string(cMediatorIdle))
	}
	return tx.SetTimer(c, timer(cMediatorIdle, at))
}

// remindMediator: nothing happened for mediator_idle since the trader's
// answer. The mediator (or, with none assigned, every mediator) is told, and
// the clock starts again.
func (r *run) remindMediator() error {
	idle := r.e.cfg.Procedure.MediatorIdle
	since := r.trigger.(fired).due
	// The idle clock fired at since = last activity + idle; go back by the same period.
	last := since.Add(-(idle.From(since).Sub(since)))
	d := templates.Data{Intro: "MediatorIdle", Since: at(last), Deadline: at(r.due(cMediationEnd))}
	if r.c.MediationExtended {
		d.Intro = "MediatorIdleExtended"
	}
	if err := r.e.touchMediation(r.tx, r.c); err != nil {
		return err
	}
	if r.c.Mediator.Email != "" {
		return r.notify(route.Mediator, templates.Notice, d)
	}
	mediators, err := r.tx.Mediators()
	if err != nil {
		return err
	}
	for _, m := range mediators {
		if err := r.tellMediator(m, d); err != nil {
			return err
		}
	}
	return nil
}

// extendMediation applies #extend: once, the mediation's end moves.
func (r *run) extendMediation() error {
	end := r.due(cMediationEnd).Add(r.trigger.(extend).by)
	r.c.MediationExtended = true
	if err := r.tx.SetTimer(r.c, timer(cMediationEnd, end)); err != nil {
		return err
	}
	return r.e.touchMediation(r.tx, r.c)
}

// notifyMediationExtended tells both parties and the mediator the new end.
func (r *run) notifyMediationExtended() error {
	end := at(r.due(cMediationEnd))
	return r.notifyAll(templates.Notice, func(role route.Role, _ string) templates.Data {
		if role == route.Mediator {
			return templates.Data{Intro: "ExtendDone", Deadline: end}
		}
		return templates.Data{Intro: "MediationExtended", Deadline: end}
	})
}

// recordProposal applies #propose: a new proposal replaces an open one, and
// its answers are due proposal_window from now.
func (r *run) recordProposal() error {
	text := r.trigger.(propose).text
	r.c.Proposal = &casestore.Proposal{Text: text, Created: r.now}
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvProposal, Role: route.Mediator, Message: r.message, Text: text}); err != nil {
		return err
	}
	if err := r.tx.SetTimer(r.c, timer(cProposalDue, r.e.cfg.Procedure.ProposalWindow.From(r.now))); err != nil {
		return err
	}
	return r.e.touchMediation(r.tx, r.c)
}

// sendProposal sends each party the proposal, how to answer, by when, what
// accepting means and their rights (Directive 2013/11/EU art. 9(2)(b)-(d)).
func (r *run) sendProposal() error {
	for _, role := range []route.Role{route.Consumer, route.Trader} {
		lang := r.c.PartyByRole(role).Lang
		rights := []string{r.e.loc.T(lang, "ProposalFree", nil), r.e.loc.T(lang, "RightCourt", nil), r.e.loc.T(lang, "RightAdvice", nil)}
		if role == route.Consumer {
			rights = append(rights, r.e.loc.T(lang, "RightWithdraw", nil))
		}
		d := templates.Data{Text: r.c.Proposal.Text, Deadline: at(r.due(cProposalDue)), Lines: rights,
			Keywords: r.e.keyword(lang, "KeywordAccept") + ", " + r.e.keyword(lang, "KeywordReject"),
			Choices: []templates.Option{
				{Label: r.e.loc.T(lang, "ProposalAccept", nil), Address: r.e.choiceAddress(r.c.ID, route.ChoiceAccept)},
				{Label: r.e.loc.T(lang, "ProposalReject", nil), Address: r.e.choiceAddress(r.c.ID, route.ChoiceReject)},
			}}
		if err := r.notify(role, templates.Proposal, d); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) proposalOpen() bool { return r.c.Proposal != nil && !r.c.Proposal.Answered() }

// settles: with this answer, both parties accepted the open proposal.
func (r *run) settles() bool {
	if !r.proposalOpen() {
		return false
	}
	a := r.trigger.(answer)
	cons, trad := r.c.Proposal.Consumer, r.c.Proposal.Trader
	if a.by == route.Consumer {
		cons = answerWord(a.accepted)
	} else {
		trad = answerWord(a.accepted)
	}
	return cons == "accepted" && trad == "accepted"
}

func answerWord(ok bool) string {
	if ok {
		return "accepted"
	}
	return "rejected"
}

// recordAnswer records a party's answer; once the proposal has its outcome
// its clock stops.
func (r *run) recordAnswer() error {
	a := r.trigger.(answer)
	switch a.by {
	case route.Consumer:
		r.c.Proposal.Consumer = answerWord(a.accepted)
	case route.Trader:
		r.c.Proposal.Trader = answerWord(a.accepted)
	}
	if r.c.Proposal.Answered() {
		if err := r.tx.DropTimer(r.c, string(cProposalDue)); err != nil {
			return err
		}
	}
	return r.e.touchMediation(r.tx, r.c)
}

// notifyAnswer confirms an answer to who gave it and tells the others, and
// that the mediation goes on when the proposal failed.
func (r *run) notifyAnswer() error {
	a := r.trigger.(answer)
	id := "ProposalRejectedBy"
	if a.accepted {
		id = "ProposalAcceptedBy"
	}
	end := at(r.due(cMediationEnd))
	{
		lang := r.c.PartyByRole(a.by).Lang
		d := templates.Data{Intro: "AnswerRejected", Name: r.e.partyName(r.c, a.by.Other(), lang), Deadline: at(r.due(cProposalDue))}
		if a.accepted {
			d.Intro = "AnswerAccepted"
		}
		if r.c.Proposal.Answered() {
			d.Lines = []string{r.e.loc.T(lang, "MediationContinues", templates.Data{Deadline: end})}
		}
		if !r.undoUntil.IsZero() { // read from the writer's words: it can be taken back
			d.Lines = append(d.Lines, r.e.undoLine(lang, r.undoUntil))
		}
		if err := r.notify(a.by, templates.Notice, d); err != nil {
			return err
		}
	}
	for _, role := range route.Roles {
		if role == a.by || !r.knows(role) {
			continue
		}
		lang := r.c.PartyByRole(role).Lang
		d := templates.Data{Intro: id, Name: r.e.partyName(r.c, a.by, lang), Deadline: end}
		if r.c.Proposal.Answered() {
			d.Lines = []string{r.e.loc.T(lang, "MediationContinues", d)}
		}
		if err := r.notify(role, templates.Notice, d); err != nil {
			return err
		}
	}
	return nil
}

// lapseProposal: the proposal's answers were due; silence counts as
// rejection, and everyone hears that the mediation goes on.
func (r *run) lapseProposal() error {
	p := r.c.Proposal
	if p == nil || p.Answered() {
		return nil
	}
	due := r.trigger.(fired).due
	for _, role := range []route.Role{route.Consumer, route.Trader} {
		ans := &p.Consumer
		if role == route.Trader {
			ans = &p.Trader
		}
		if *ans == "" {
			*ans = "rejected"
			if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvChoice, Role: role, Text: "reject: no answer by " + due.UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
	}
	end := at(r.due(cMediationEnd))
	if err := r.e.touchMediation(r.tx, r.c); err != nil {
		return err
	}
	return r.notifyAll(templates.Notice, func(_ route.Role, lang string) templates.Data {
		return templates.Data{Intro: "ProposalLapsed", Deadline: at(due), Lines: []string{r.e.loc.T(lang, "MediationContinues", templates.Data{Deadline: end})}}
	})
}
