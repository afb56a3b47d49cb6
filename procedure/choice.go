package procedure

import (
	"fmt"
	"strings"

	"parley/casestore"
	"parley/templates"
	"parley/threading"
)

var choiceTriggers = map[string]trigger{
	threading.ChoiceResolved:  tResolved,
	threading.ChoiceMediation: tMediation,
	threading.ChoiceWait:      tWait,
	threading.ChoiceWithdraw:  tWithdraw,
	threading.ChoiceAccept:    tAnswer,
	threading.ChoiceReject:    tAnswer,
}

// choiceMail applies a choice made by mailing a choice address. The sender
// decides whose choice it is; consumer choices from anyone else, and
// automatic mail, change nothing.
func (e *Engine) choiceMail(in *inbound) error {
	f := strings.Split(in.msg.Target, ":")
	if len(f) != 3 {
		return errPermanent{fmt.Errorf("bad target %q", in.msg.Target)}
	}
	var c *casestore.Case
	if err := e.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(f[1]); return err }); err != nil {
		return errPermanent{err}
	}
	choice, msg := f[2], in.msg
	msg.CaseID = c.ID
	var role threading.Role
	switch casestore.NormalizeEmail(msg.From) {
	case casestore.NormalizeEmail(c.Consumer.Email):
		role = threading.Consumer
	case casestore.NormalizeEmail(c.Trader.Email):
		role = threading.Trader
	}
	answer := choice == threading.ChoiceAccept || choice == threading.ChoiceReject
	if role == "" || (role == threading.Trader && !answer) || in.unauthenticated {
		return e.quarantine(in, c, threading.Consumer, &c.Consumer)
	}
	msg.Role = role.Name()
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply to a choice address: not a choice"
		return e.finish(in, e.logOnly(c.ID, casestore.Event{Kind: casestore.EvAutoReply, Role: role.Name(), Message: msg.ID, Text: in.auto}))
	}
	err := e.finish(in, e.withRun(c.ID, c.State, msg.ID, role, func(r *run) error {
		r.accepted = choice == threading.ChoiceAccept
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvChoice, Role: role.Name(), Message: msg.ID, Text: choice}); err != nil {
			return err
		}
		if handled, err := r.fire(choiceTriggers[choice]); err != nil || handled {
			return err
		}
		return r.notify(role, templates.Notice, templates.Data{Intro: "ChoiceUnavailable"})
	}))
	in.step.barrier = true
	return err
}
