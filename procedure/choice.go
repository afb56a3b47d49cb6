package procedure

import (
	"parley/casestore"
	"parley/route"
	"parley/templates"
)

// choiceMail applies a choice made by mailing a choice address. The sender
// decides whose choice it is; consumer choices from anyone else, and
// automatic mail, change nothing.
func (e *Engine) choiceMail(in *inbound) error {
	var c *casestore.Case
	if err := e.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(in.msg.Target.Case); return err }); err != nil {
		return errPermanent{err}
	}
	if c.Purged {
		return e.afterPurge(in, c)
	}
	ch, msg := in.msg.Target.Choice, in.msg
	msg.CaseID = c.ID
	role := e.speaksFor(c, msg.From)
	isAnswer := ch == route.ChoiceAccept || ch == route.ChoiceReject
	if role == "" || (role == route.Trader && !isAnswer) || in.unauthenticated {
		return e.quarantine(in, c, route.Consumer)
	}
	msg.Role = role
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply to a choice address: not a choice"
		return e.finish(in, e.logOnly(c.ID, casestore.Event{Kind: casestore.EvAutoReply, Role: role, Message: msg.ID, Text: in.auto}))
	}
	var t trigger = chose{ch}
	if isAnswer {
		t = answer{by: role, accepted: ch == route.ChoiceAccept}
	}
	staff := role == route.Trader && casestore.NormalizeEmail(msg.From) != casestore.NormalizeEmail(c.Trader.Email)
	err := e.finish(in, e.withRun(c.ID, c.State, msg, role, func(r *run) error {
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvChoice, Role: role, Message: msg.ID, Text: string(ch)}); err != nil {
			return err
		}
		e.wrote(r.c, role, msg.From, in.parsed.MessageID, staff)
		if err := e.partyWrote(r.tx, r.c, role); err != nil {
			return err
		}
		if handled, err := r.fire(t); err != nil || handled {
			return err
		}
		return r.notify(role, templates.Notice, templates.Data{Intro: "ChoiceUnavailable"})
	}))
	in.step.barrier = true
	return err
}
