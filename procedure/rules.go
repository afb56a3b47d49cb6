package procedure

import (
	"slices"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/route"
	"parley/templates"
)

// The scheme's rules: which complaint may be mediated, which claim may go to
// arbitration, and what a closing notice explains.

// complaintDate is when the consumer first complained to the trader: the
// date they stated, else the day the case was opened. days is the limit.
func (r *run) complaintDate() (time.Time, int) {
	days := int(r.e.cfg.Procedure.MaxComplaintAge.D() / (24 * time.Hour))
	if t, err := time.Parse("2006-01-02", r.c.Fields.ComplainedOn); err == nil {
		return t, days
	}
	y, m, d := r.c.Created.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), days
}

// admissible: mediation is open to a complaint at most max_complaint_age
// old, counted from when the consumer first complained to the trader
// (WebwinkelKeur procedure).
func (r *run) admissible() bool {
	since, _ := r.complaintDate()
	return r.now.Sub(since) <= r.e.cfg.Procedure.MaxComplaintAge.D()
}

// obstacle is one reason a claim cannot go to arbitration; field names the
// complaint field that would lift it when the reason is that it is unknown.
type obstacle struct {
	id    string
	field string
}

// obstacles lists why the claim cannot be referred to arbitration. A field
// nobody gave is unknown, not "no": it is named as missing, to be asked for.
func (r *run) obstacles() []obstacle {
	p, f := r.e.cfg.Procedure, r.c.Fields
	var why []obstacle
	switch {
	case f.Amount == 0:
		why = append(why, obstacle{"Reason_amount_unknown", "LabelAmount"})
	case f.Currency != "" && f.Currency != p.Currency:
		why = append(why, obstacle{id: "Reason_currency"})
	case config.Amount(f.Amount) < p.ArbitrationMin:
		why = append(why, obstacle{id: "Reason_amount_low"})
	case config.Amount(f.Amount) > p.ArbitrationMax:
		why = append(why, obstacle{id: "Reason_amount_high"})
	}
	if f.Contacted == "no" {
		why = append(why, obstacle{id: "Reason_not_contacted"})
	}
	return why
}

// reasonData fills the reasons' templates.
func (r *run) reasonData() templates.Data {
	p := r.e.cfg.Procedure
	return templates.Data{Min: money(int64(p.ArbitrationMin), p.Currency), Max: money(int64(p.ArbitrationMax), p.Currency), Currency: p.Currency}
}

// referable: a body is configured and the claim meets its conditions.
func (r *run) referable() bool {
	return r.e.cfg.Procedure.Referral() && len(r.obstacles()) == 0
}

// decideReferral: a case that ends in mediation without agreement goes to
// arbitration when it can; the closing notice explains the decision.
func (r *run) decideReferral() error {
	if _, byMediator := r.trigger.(refer); byMediator {
		r.closing = append(r.closing, explanation{id: "ReferredByMediator"})
	}
	if !r.e.cfg.Procedure.Referral() {
		return nil // no body: the consumer is told where else to turn
	}
	r.referral = true
	if len(r.obstacles()) == 0 {
		r.outcome = casestore.OutcomeReferred
	}
	return nil
}

// explainNoReferral answers a #refer that cannot be carried out: no body, or
// the claim does not meet the conditions. What is only unknown is asked of
// the consumer; the case stays in mediation.
func (r *run) explainNoReferral() error {
	lang := r.replyLang
	if !r.e.cfg.Procedure.Referral() {
		r.replies = append(r.replies, r.e.loc.T(lang, "ReferNotConfigured", nil))
		return nil
	}
	r.replies = append(r.replies, r.e.loc.T(lang, "ReferNotPossible", nil))
	d := r.reasonData()
	var missing []string
	for _, o := range r.obstacles() {
		r.replies = append(r.replies, "  - "+r.e.loc.T(lang, o.id, d))
		if o.field != "" {
			missing = append(missing, o.field)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	r.replies = append(r.replies, r.e.loc.T(lang, "ReferAsked", nil))
	return r.askFields("AskForReferral", missing)
}

// askFields asks the consumer to reply with labelled lines for fields.
func (r *run) askFields(intro string, fields []string) error {
	lang := r.c.Consumer.Lang
	var lines []string
	for _, id := range fields {
		lines = append(lines, r.e.keyword(lang, id)+": ")
	}
	return r.notify(route.Consumer, templates.Notice, templates.Data{Intro: intro, Lines: lines, Body: r.e.cfg.Procedure.ArbitrationBody})
}

// recordSilence: the trader did not answer in mediation, which counts as a
// refusal to cooperate (Directive (EU) 2025/2647).
func (r *run) recordSilence() error {
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvRefused, Role: route.Trader, Text: "no answer within mediation_reply"}); err != nil {
		return err
	}
	d := map[string]any{"Deadline": at(r.trigger.(fired).due), "Trader": r.c.Trader.Name}
	r.closing = append(r.closing, explanation{id: "SilenceRecorded", data: d, not: route.Trader},
		explanation{id: "SilenceRecordedTrader", data: d, only: route.Trader})
	return r.decideReferral()
}

// recordMediationEnd: the mediation's overall limit came without agreement.
func (r *run) recordMediationEnd() error {
	due := r.trigger.(fired).due
	r.closing = append(r.closing, explanation{id: "MediationEnded", data: map[string]any{"Deadline": at(due)}})
	return r.decideReferral()
}

// closeWithOutcome applies #close OUTCOME.
func (r *run) closeWithOutcome() error {
	r.outcome = r.trigger.(closeAs).outcome
	return nil
}

// withoutAgreement are the outcomes after which the consumer is told where
// else to turn.
var withoutAgreement = []string{casestore.OutcomeRefused, casestore.OutcomeAbandoned, casestore.OutcomeWithdrawn,
	casestore.OutcomeIneligible, casestore.OutcomeUnresolved}

// closingLines are the explanations above the outcome for role, in lang.
func (r *run) closingLines(role route.Role, lang string) []string {
	var lines []string
	for _, x := range r.closing {
		if (x.only == "" || x.only == role) && x.not != role {
			d := map[string]any{"CaseID": r.c.ID}
			for k, v := range x.data {
				d[k] = v
			}
			lines = append(lines, r.e.loc.T(lang, x.id, d))
		}
	}
	p := r.e.cfg.Procedure
	if r.outcome == casestore.OutcomeSettled && r.c.Proposal != nil {
		lines = append(lines, r.e.loc.T(lang, "SettledTerms", nil), r.c.Proposal.Text)
	}
	if r.referral {
		if r.outcome == casestore.OutcomeReferred {
			d := templates.Data{Amount: money(r.c.Fields.Amount, p.Currency), Fee: money(int64(p.ArbitrationFee), p.Currency),
				Body: p.ArbitrationBody, URL: p.ArbitrationURL}
			id := map[route.Role]string{route.Consumer: "ReferralConsumer", route.Trader: "ReferralTrader", route.Mediator: "ReferralMediator"}[role]
			lines = append(lines, r.e.loc.T(lang, id, d))
		} else {
			lines = append(lines, r.e.loc.T(lang, "ReferralIneligible", templates.Data{Body: p.ArbitrationBody}))
			d := r.reasonData()
			for _, o := range r.obstacles() {
				lines = append(lines, "  - "+r.e.loc.T(lang, o.id, d))
			}
		}
	}
	// Where else to turn, after a dispute that ended without agreement (an
	// intake that never became complete was no dispute yet).
	if role == route.Consumer && p.MoreHelp != "" && slices.Contains(withoutAgreement, r.outcome) && r.from != intake {
		lines = append(lines, r.e.loc.T(lang, "MoreHelp", templates.Data{MoreHelp: p.MoreHelp}))
	}
	return lines
}
