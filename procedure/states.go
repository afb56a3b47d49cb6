package procedure

import (
	"time"

	"parley/casestore"
	"parley/route"
	"parley/templates"
)

// The clocks each state starts, and what entering it tells the parties.

func timer(k clock, due time.Time) casestore.Timer {
	return casestore.Timer{Kind: string(k), Due: due, Internal: k == cReminder || k == cMediatorIdle || k == cReferral}
}

// intakeClocks: an intake still incomplete closes incomplete_intake after the
// consumer was last asked for what is missing.
func (r *run) intakeClocks() []casestore.Timer {
	return []casestore.Timer{timer(cIntakeExpired, r.e.cfg.Procedure.IncompleteIntake.From(r.now))}
}

// windowClocks: the trader's window, and the reminder before its end if that
// is still ahead.
func (r *run) windowClocks() []casestore.Timer {
	p := r.e.cfg.Procedure
	r.c.TraderAnswered = false
	end := p.TraderWindow.From(r.now)
	timers := []casestore.Timer{timer(cWindowEnd, end)}
	if p.TraderReminder.Positive() {
		if at := end.Add(-(p.TraderReminder.From(r.now).Sub(r.now))); at.After(r.now) {
			timers = append(timers, timer(cReminder, at))
		}
	}
	return timers
}

func (r *run) choiceClocks() []casestore.Timer {
	return []casestore.Timer{timer(cChoiceExpired, r.e.cfg.Procedure.ChoiceWindow.From(r.now))}
}

// mediationClocks: the trader's answer is due mediation_reply from now; the
// mediation as a whole ends mediation_max after the complaint was complete
// (Directive 2013/11/EU art. 8(e)), but never before the trader's answer is due.
func (r *run) mediationClocks() []casestore.Timer {
	p := r.e.cfg.Procedure
	r.c.TraderAnswered, r.c.MediationExtended, r.c.Proposal = false, false, nil
	reply := p.MediationReply.From(r.now)
	end := p.MediationMax.From(r.completedAt())
	if end.Before(reply) {
		end = reply
	}
	return []casestore.Timer{timer(cReplyDue, reply), timer(cMediationEnd, end)}
}

// completedAt is when the complaint was complete (the case's opening for
// cases recorded before that was kept).
func (r *run) completedAt() time.Time {
	if !r.c.Completed.IsZero() {
		return r.c.Completed
	}
	return r.c.Created
}

// closedClocks: a closed case keeps one clock, the deletion of its personal
// data; a referral still to send is due at once.
func (r *run) closedClocks() []casestore.Timer {
	timers := []casestore.Timer{timer(cRetention, r.e.cfg.Procedure.Retention.From(r.now))}
	if r.outcome == casestore.OutcomeReferred && r.e.cfg.Procedure.Referral() {
		timers = append(timers, timer(cReferral, r.now))
	}
	return timers
}

// askChoice: the trader hears that the window ended; the consumer gets a
// choice address per option and the deadline of the choice.
func (r *run) askChoice() error {
	if err := r.notify(route.Trader, templates.WindowEnded, templates.Data{}); err != nil {
		return err
	}
	return r.sendChoices("")
}

// notifyClosed closes the case and sends every party who knows of the case
// one closing notice: the outcome, why, and what happens to the record.
func (r *run) notifyClosed() error {
	if r.outcome == "" {
		r.outcome = casestore.OutcomeResolved
	}
	r.c.Outcome, r.c.Closed = r.outcome, r.now
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvClosed, Role: r.actor(), Message: r.message, Text: r.c.Outcome}); err != nil {
		return err
	}
	// Every party gets the same fingerprint: the "closed" event's hash,
	// which `parley case verify` and `verify-export` print too.
	seq, hash := r.c.Events, r.c.LastHash
	for _, role := range route.Roles {
		p := r.c.PartyByRole(role)
		if !r.knows(role) {
			continue
		}
		// The fingerprint of the record so far goes into every party's
		// mailbox, where nobody at Parley can change it: a case file must
		// chain up to it.
		d := templates.Data{Outcome: r.e.loc.T(p.Lang, "Outcome_"+r.c.Outcome, nil), Deadline: at(r.due(cRetention)),
			Lines: r.closingLines(role, p.Lang), Seq: seq, Hash: hash}
		if err := r.notify(role, templates.Closed, d); err != nil {
			return err
		}
	}
	return nil
}

// knows reports whether a party has heard of the case from Parley (or wrote
// to it): only they get its closing notice. A trader of an intake that never
// became complete was never told, and is not told it closed.
func (r *run) knows(role route.Role) bool {
	p := r.c.PartyByRole(role)
	if p == nil || p.Email == "" {
		return false
	}
	return role == route.Consumer || len(p.Thread) > 0
}
