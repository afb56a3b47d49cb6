package procedure

import (
	"fmt"
	"time"

	"parley/casestore"
	"parley/evidence"
	"parley/templates"
	"parley/threading"
)

// trigger is what can move a case: mail, a choice, a command or a clock.
type trigger string

const (
	tComplete      trigger = "complete"       // the intake has every required field
	tIntakeExpired trigger = "intake-expired" // clock: incomplete_intake
	tReminder      trigger = "reminder"       // clock: trader_reminder before the window ends
	tWindowEnd     trigger = "window-end"     // clock: trader_window
	tResolved      trigger = "resolved"       // consumer's choice
	tMediation     trigger = "mediation"      // consumer's choice
	tWait          trigger = "wait"           // consumer's choice
	tChoiceExpired trigger = "choice-expired" // clock: choice_window
	tTake          trigger = "take"           // #take
	tMediationDue  trigger = "mediation-due"  // clock: mediation_reply
	tPropose       trigger = "propose"        // #propose
	tAnswer        trigger = "answer"         // a party accepts or rejects the proposal
	tRefer         trigger = "refer"          // #refer
	tExtend        trigger = "extend"         // #extend
	tClose         trigger = "close"          // #close OUTCOME
	tWithdraw      trigger = "withdraw"       // consumer's choice
	tRetention     trigger = "retention"      // clock: retention after closing
)

const (
	anyOpen = "*" // any state but closed
	stay    = "=" // the state does not change
	closed  = casestore.StateClosed
	intake  = casestore.StateIntake
	open    = casestore.StateOpen
	choice  = casestore.StateChoice
	mediate = casestore.StateMediation
)

type transition struct {
	from    string
	on      trigger
	when    func(*run) bool
	to      string
	outcome string
	do      func(*run) error
}

// table is the dispute procedure. The first row whose state, trigger and
// guard match is taken; a trigger that matches no row changes nothing.
var table = []transition{
	{intake, tComplete, nil, open, "", (*run).notifyOpened},
	{intake, tIntakeExpired, nil, closed, casestore.OutcomeAbandoned, (*run).notifyIntakeClosed},
	{open, tReminder, (*run).windowAhead, stay, "", (*run).remindTrader},
	{open, tWindowEnd, nil, choice, "", (*run).askChoice},
	{open, tResolved, nil, closed, casestore.OutcomeResolved, nil},
	{choice, tResolved, nil, closed, casestore.OutcomeResolved, nil},
	{choice, tMediation, nil, mediate, "", (*run).startMediation},
	{choice, tWait, (*run).canExtend, open, "", (*run).notifyExtended},
	{choice, tWait, nil, stay, "", (*run).refuseExtension},
	{choice, tChoiceExpired, nil, closed, casestore.OutcomeAbandoned, nil},
	{mediate, tTake, nil, stay, "", (*run).assignMediator},
	{mediate, tMediationDue, (*run).traderSilent, closed, "", (*run).silenceIsRefusal},
	{mediate, tPropose, nil, stay, "", (*run).sendProposal},
	{mediate, tAnswer, (*run).bothAccepted, closed, casestore.OutcomeSettled, (*run).notifyAnswer},
	{mediate, tAnswer, nil, stay, "", (*run).notifyAnswer},
	{mediate, tRefer, (*run).eligible, closed, casestore.OutcomeReferred, (*run).notifyReferral},
	{mediate, tRefer, nil, closed, casestore.OutcomeIneligible, (*run).notifyReferral},
	{anyOpen, tExtend, nil, stay, "", (*run).extendDeadline},
	{anyOpen, tClose, nil, closed, "", nil},
	{anyOpen, tWithdraw, nil, closed, casestore.OutcomeWithdrawn, nil},
	{closed, tRetention, nil, stay, "", (*run).purge},
}

// run is one trigger applied to one case inside one transaction.
type run struct {
	e   *Engine
	tx  *casestore.Tx
	c   *casestore.Case
	now time.Time
	out []uint64 // outbound rows queued

	// Inputs of particular triggers.
	by           threading.Role // who acted (choices, answers)
	message      uint64         // the message that caused it, for the log
	complaint    string         // tComplete: the complaint as the trader sees it
	atts         []evidence.Attachment
	outcome      string        // tClose
	extend       time.Duration // tExtend
	proposal     string        // tPropose
	accepted     bool          // tAnswer
	mediator     *casestore.Mediator
	silent       bool     // the trader's silence in mediation was recorded as refusal
	fromMediator bool     // notices sent now speak for the mediator (From display name)
	removeBlobs  []string // blob files to delete once the transaction committed
	referral     bool     // the closing notice explains the referral decision
}

// actor is the role that caused the run, "" for a clock.
func (r *run) actor() string {
	if r.by == "" {
		return ""
	}
	return r.by.Name()
}

// windowAhead is false for a reminder that comes due only after its window
// ended (the daemon was down across both): it would urge a passed deadline.
func (r *run) windowAhead() bool { return r.now.Before(r.c.Deadline) }

func (e *Engine) newRun(tx *casestore.Tx, c *casestore.Case) *run {
	return &run{e: e, tx: tx, c: c, now: e.now()}
}

// fire applies t to the case. It reports whether a row matched.
func (r *run) fire(t trigger) (bool, error) {
	for _, tr := range table {
		if (tr.from != r.c.State && !(tr.from == anyOpen && r.c.Open())) || tr.on != t {
			continue
		}
		if tr.when != nil && !tr.when(r) {
			continue
		}
		from := r.c.State
		if tr.outcome != "" {
			r.outcome = tr.outcome
		}
		if tr.do != nil {
			if err := tr.do(r); err != nil {
				return true, fmt.Errorf("%s on %s in %s: %w", t, r.c.ID, from, err)
			}
		}
		to := tr.to
		if to == stay {
			to = from
		}
		text := string(t)
		if to != from {
			text = fmt.Sprintf("%s: %s -> %s", t, from, to)
			if err := r.enter(to); err != nil {
				return true, err
			}
		}
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvStateChange, Role: r.actor(), Message: r.message, Text: text}); err != nil {
			return true, err
		}
		return true, nil
	}
	return false, nil
}

// enter sets the clocks of a new state and sends what entering it means.
func (r *run) enter(state string) error {
	p := r.e.cfg.Procedure
	r.c.State = state
	switch state {
	case open:
		end := p.TraderWindow.From(r.now)
		timers := []casestore.Timer{{Kind: string(tWindowEnd), Due: end}}
		if p.TraderReminder.Positive() {
			// The reminder goes this long before the end, if that is still ahead.
			if at := end.Add(-(p.TraderReminder.From(r.now).Sub(r.now))); at.After(r.now) {
				timers = append(timers, casestore.Timer{Kind: string(tReminder), Due: at})
			}
		}
		r.c.Deadline = end
		return r.tx.SetTimers(r.c, timers...)
	case choice:
		r.c.Deadline = p.ChoiceWindow.From(r.now)
		return r.tx.SetTimers(r.c, casestore.Timer{Kind: string(tChoiceExpired), Due: r.c.Deadline})
	case mediate:
		r.c.Deadline = p.MediationReply.From(r.now)
		r.c.TraderAnswered = false
		return r.tx.SetTimers(r.c, casestore.Timer{Kind: string(tMediationDue), Due: r.c.Deadline})
	case closed:
		if r.outcome == "" {
			r.outcome = casestore.OutcomeResolved
		}
		r.c.Outcome, r.c.Closed = r.outcome, r.now
		r.c.Deadline = p.Retention.From(r.now)
		if err := r.tx.SetTimers(r.c, casestore.Timer{Kind: string(tRetention), Due: r.c.Deadline}); err != nil {
			return err
		}
		return r.notifyClosed()
	case intake:
		r.c.Deadline = p.IncompleteIntake.From(r.now)
		return r.tx.SetTimers(r.c, casestore.Timer{Kind: string(tIntakeExpired), Due: r.c.Deadline})
	}
	return nil
}

// notify renders template name for role in that party's language and queues it.
func (r *run) notify(role threading.Role, name string, d templates.Data) error {
	p := r.c.PartyByRole(role.Name())
	if p == nil || p.Email == "" {
		return nil // no such party (yet): a mediator not yet assigned
	}
	d.CaseID, d.Title = r.c.ID, r.c.Title
	if d.Trader == "" {
		d.Trader = r.c.Trader.Name
	}
	if d.Deadline == "" && !r.c.Deadline.IsZero() {
		d.Deadline = formatDeadline(r.c.Deadline)
	}
	b, err := r.e.render(r.c, role, name, d, nil, true)
	if err != nil {
		return err
	}
	if r.fromMediator {
		b.fromName = r.e.mediatorName(p.Lang)
	}
	o, err := r.e.queue(r.tx, r.c, role, b)
	if err != nil {
		return err
	}
	r.out = append(r.out, o.ID)
	return nil
}

// notifyParties sends the same notice to consumer, trader and mediator.
func (r *run) notifyParties(name string, d templates.Data) error {
	for _, role := range []threading.Role{threading.Consumer, threading.Trader, threading.Mediator} {
		if err := r.notify(role, name, d); err != nil {
			return err
		}
	}
	return nil
}
