package procedure

import (
	"fmt"
	"time"

	"parley/casestore"
	"parley/evidence"
	"parley/route"
)

// The dispute procedure as three tables: the transitions (which trigger moves
// a case from which state to which, and what it records and says), the
// states (the clocks entering a state starts and what entering it tells the
// parties), and the mail routing (who receives what a party writes in each
// state). A transition first records what its trigger means (effect), then
// enters the new state (its clocks, then its notices), then says what this
// particular way in means (then), so every notice reads the case as it now is
// and every deadline it states is the timer that will fire.

const (
	intake  = casestore.StateIntake
	open    = casestore.StateOpen
	choice  = casestore.StateChoice
	mediate = casestore.StateMediation
	closed  = casestore.StateClosed
	anyOpen = "*" // any state but closed
	stay    = "=" // the state does not change and is not re-entered
)

// trigger is what can move a case; each kind carries what it needs.
type trigger interface{ name() string }

// clock is a timer of that kind come due; the kinds are stored in bbolt.
type clock string

func (k clock) name() string { return string(k) }

const (
	cIntakeExpired clock = "intake-expired" // incomplete_intake after the last request for information
	cReminder      clock = "reminder"       // trader_reminder before the window ends
	cWindowEnd     clock = "window-end"     // trader_window
	cChoiceExpired clock = "choice-expired" // choice_window
	cReplyDue      clock = "mediation-due"  // mediation_reply: the trader's answer in mediation
	cMediationEnd  clock = "mediation-end"  // mediation_max after the complete complaint
	cMediatorIdle  clock = "mediator-idle"  // mediator_idle without activity after the trader's answer
	cProposalDue   clock = "proposal-due"   // proposal_window: answers to a settlement proposal
	cUndoEnd       clock = "undo-end"       // a choice read from a party's words can no longer be taken back
	cReferral      clock = "referral"       // send the case file to the arbitration body (due at once)
	cRetention     clock = "retention"      // retention after closing: delete personal data
)

// fired is a clock come due, with the deadline its timer stated.
type fired struct {
	clock
	due time.Time
}

// clocks lists every timer kind, in the order #status shows them.
var clocks = []clock{cIntakeExpired, cReminder, cWindowEnd, cChoiceExpired, cReplyDue, cProposalDue, cMediatorIdle, cMediationEnd, cUndoEnd, cReferral, cRetention}

type (
	// complete: the intake has every required field; the trader is told.
	complete struct {
		complaint string
		atts      []evidence.Attachment
		unclear   []unclearValue // asked back in the confirmation
		// translated is the complaint in the trader's language, made before
		// the transaction (when the trader reads another language).
		translated translated
	}
	// incomplete: the intake still lacks something; the consumer is asked.
	incomplete struct {
		unclear []unclearValue
		again   bool // a reply to the form: say what is still missing
	}
	// chose: the consumer chose by address or by a word in a reply.
	chose struct{ choice route.Choice }
	// answer: a party accepts or rejects the settlement proposal.
	answer struct {
		by       route.Role
		accepted bool
	}
	take    struct{ mediator casestore.Mediator } // #take
	propose struct{ text string }                 // #propose
	extend  struct{ by time.Duration }            // #extend
	refer   struct{}                              // #refer
	closeAs struct{ outcome string }              // #close OUTCOME
)

func (complete) name() string   { return "complete" }
func (incomplete) name() string { return "incomplete" }
func (c chose) name() string    { return string(c.choice) }
func (answer) name() string     { return "answer" }
func (take) name() string       { return "take" }
func (propose) name() string    { return "propose" }
func (extend) name() string     { return "extend" }
func (refer) name() string      { return "refer" }
func (closeAs) name() string    { return "close" }

var (
	resolved  = chose{route.ChoiceResolved}.name()
	mediation = chose{route.ChoiceMediation}.name()
	wait      = chose{route.ChoiceWait}.name()
	withdraw  = chose{route.ChoiceWithdraw}.name()
)

type transition struct {
	from    string
	on      string
	when    func(*run) bool
	to      string
	outcome string
	effect  func(*run) error // before entering: what the trigger records and decides
	then    func(*run) error // after entering: what this way in tells the parties
}

// table is the dispute procedure. The first row whose state, trigger and
// guard match is taken; a trigger that matches no row changes nothing.
var table = []transition{
	// Intake: the complaint is read for what a dispute body needs; the trader
	// hears nothing until it names the trader, the problem and the wish.
	{intake, "complete", nil, open, "", (*run).markCompleted, (*run).notifyOpened},
	{intake, "incomplete", nil, intake, "", nil, (*run).askMissing},
	{intake, cIntakeExpired.name(), nil, closed, casestore.OutcomeAbandoned, (*run).explainIntakeExpired, nil},

	// The trader's window: the parties write to each other through Parley.
	{open, cReminder.name(), (*run).traderSilentInWindow, stay, "", nil, (*run).remindTrader},
	{open, cWindowEnd.name(), nil, choice, "", (*run).windowRan, nil},
	{open, resolved, nil, closed, casestore.OutcomeResolved, nil, nil},

	// The consumer's choice once the window ran.
	{choice, resolved, nil, closed, casestore.OutcomeResolved, nil, nil},
	{choice, mediation, (*run).admissible, mediate, "", nil, nil},
	{choice, mediation, nil, stay, "", nil, (*run).refuseMediation},
	{choice, wait, (*run).canExtend, open, "", (*run).countExtension, (*run).notifyExtended},
	{choice, wait, nil, stay, "", nil, (*run).refuseExtension},
	{choice, cChoiceExpired.name(), nil, closed, casestore.OutcomeAbandoned, nil, nil},

	// Mediation.
	{mediate, "take", nil, stay, "", nil, (*run).assignMediator},
	{mediate, cReplyDue.name(), (*run).traderSilent, closed, casestore.OutcomeRefused, (*run).recordSilence, nil},
	{mediate, cMediationEnd.name(), nil, closed, casestore.OutcomeUnresolved, (*run).recordMediationEnd, nil},
	{mediate, cMediatorIdle.name(), nil, stay, "", nil, (*run).remindMediator},
	{mediate, "extend", nil, stay, "", (*run).extendMediation, (*run).notifyMediationExtended},
	{mediate, "propose", nil, stay, "", (*run).recordProposal, (*run).sendProposal},
	{mediate, "answer", (*run).settles, closed, casestore.OutcomeSettled, (*run).recordAnswer, nil},
	{mediate, "answer", (*run).proposalOpen, stay, "", (*run).recordAnswer, (*run).notifyAnswer},
	{mediate, cProposalDue.name(), nil, stay, "", nil, (*run).lapseProposal},
	{mediate, "refer", (*run).referable, closed, casestore.OutcomeReferred, (*run).decideReferral, nil},
	{mediate, "refer", nil, stay, "", nil, (*run).explainNoReferral},

	// The time to take back a choice made in writing ran out.
	{anyOpen, cUndoEnd.name(), nil, stay, "", (*run).undoExpired, nil},
	{closed, cUndoEnd.name(), nil, stay, "", (*run).undoExpired, nil},

	// Any time before closing.
	{anyOpen, withdraw, nil, closed, casestore.OutcomeWithdrawn, nil, nil},
	{anyOpen, "close", nil, closed, "", (*run).closeWithOutcome, nil},

	// After closing: the referral goes out, and personal data is deleted in time.
	{closed, cReferral.name(), nil, stay, "", (*run).sendReferral, nil},
	{closed, cRetention.name(), nil, stay, "", (*run).purge, nil},
}

// stateRules are what a state means, however a case enters it.
type stateRules struct {
	// clocks are the timers entering the state starts; they replace all others.
	clocks func(*run) []casestore.Timer
	// enter tells the parties what entering the state means.
	enter func(*run) error
	// mail says who receives what each role writes in the state. A writer
	// missing from the map is not relayed (kept in the case file).
	mail map[route.Role][]route.Role
}

var (
	betweenParties = map[route.Role][]route.Role{
		route.Consumer: {route.Trader},
		route.Trader:   {route.Consumer},
		route.Mediator: {route.Consumer, route.Trader},
	}
	withMediator = map[route.Role][]route.Role{
		route.Consumer: {route.Trader, route.Mediator},
		route.Trader:   {route.Consumer, route.Mediator},
		route.Mediator: {route.Consumer, route.Trader},
	}
)

// states: in intake the consumer's mail completes the complaint (see
// intakeReply) and nothing is relayed; after closing, mail is kept only.
var states = map[string]stateRules{
	intake:  {clocks: (*run).intakeClocks},
	open:    {clocks: (*run).windowClocks, mail: betweenParties},
	choice:  {clocks: (*run).choiceClocks, enter: (*run).askChoice, mail: betweenParties},
	mediate: {clocks: (*run).mediationClocks, enter: (*run).startMediation, mail: withMediator},
	closed:  {clocks: (*run).closedClocks, enter: (*run).notifyClosed},
}

// run is one trigger applied to one case inside one transaction.
type run struct {
	e   *Engine
	tx  *casestore.Tx
	c   *casestore.Case
	now time.Time
	out []uint64 // outbound rows queued

	by      route.Role // who acted; "" for a clock
	message uint64     // the message that caused it, for the log
	trigger trigger
	from    string // the state the case was in when the trigger came

	outcome string // the outcome a closing transition decided
	// closing collects what the closing notice explains above the outcome.
	closing []explanation
	// referral: the closing notice explains the arbitration decision.
	referral bool
	// replies are lines for the mediator who wrote (status, help, errors),
	// already in that mediator's language.
	replies     []string
	replyLang   string
	removeBlobs []string // blob files to delete once the transaction committed
	// prepared is work a clock did outside the transaction (the case file).
	prepared any
	// undoUntil is set while applying a choice read from a party's words:
	// it can be taken back until then.
	undoUntil time.Time
	// recorded are fields a mediator set in this run, told to the consumer once.
	recorded []fieldValue
	// relayedTo are the copies of the message being handled this run queued.
	relayedTo []casestore.Relay
	// translated are machine translations of the words this run may relay,
	// made before the transaction.
	translated translated
}

// explanation is a message id and its data, rendered in each reader's language.
type explanation struct {
	id   string
	data map[string]any
	// only limits it to one role, not leaves one role out; "" is everyone.
	only, not route.Role
}

func (e *Engine) newRun(tx *casestore.Tx, c *casestore.Case) *run {
	return &run{e: e, tx: tx, c: c, now: e.now()}
}

// actor is the role that caused the run, "" for a clock.
func (r *run) actor() route.Role { return r.by }

// fire applies t to the case. It reports whether a row matched.
func (r *run) fire(t trigger) (bool, error) {
	for _, tr := range table {
		if (tr.from != r.c.State && !(tr.from == anyOpen && r.c.Open())) || tr.on != t.name() {
			continue
		}
		r.trigger, r.from = t, r.c.State
		if tr.when != nil && !tr.when(r) {
			continue
		}
		// Every move but a clock that keeps the state (a reminder) ends the
		// time to take a choice back.
		if _, clk := t.(fired); !clk || tr.to != stay {
			r.c.Moves++
		}
		if tr.outcome != "" {
			r.outcome = tr.outcome
		}
		if tr.effect != nil {
			if err := tr.effect(r); err != nil {
				return true, fmt.Errorf("%s on %s in %s: %w", t.name(), r.c.ID, r.from, err)
			}
		}
		if tr.to == stay {
			if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvStateChange, Role: r.actor(), Message: r.message, Text: t.name()}); err != nil {
				return true, err
			}
		} else if err := r.enter(tr.to); err != nil {
			return true, fmt.Errorf("%s on %s: enter %s: %w", t.name(), r.c.ID, tr.to, err)
		}
		if tr.then != nil {
			if err := tr.then(r); err != nil {
				return true, fmt.Errorf("%s on %s in %s: %w", t.name(), r.c.ID, r.c.State, err)
			}
		}
		return true, nil
	}
	return false, nil
}

// enter moves the case into state: the state first, then its clocks
// (replacing every other), then what entering it tells the parties.
func (r *run) enter(state string) error {
	text := fmt.Sprintf("%s: %s -> %s", r.trigger.name(), r.from, state)
	r.c.State = state
	rules := states[state]
	var timers []casestore.Timer
	if rules.clocks != nil {
		timers = rules.clocks(r)
	}
	if err := r.tx.SetTimers(r.c, timers...); err != nil {
		return err
	}
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvStateChange, Role: r.actor(), Message: r.message, Text: text}); err != nil {
		return err
	}
	if rules.enter != nil {
		return rules.enter(r)
	}
	return nil
}

// due is when the case's pending timer of kind k fires (its deadline as told).
func (r *run) due(k clock) time.Time {
	tm, _ := r.c.Timer(string(k))
	return tm.Due
}

// readers returns who receives what role writes in the case's state.
func readers(state string, role route.Role) []route.Role {
	return states[state].mail[role]
}
