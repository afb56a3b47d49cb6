package procedure

import (
	"strings"
	"time"

	"parley/casestore"
	"parley/evidence"
	"parley/intent"
	"parley/route"
	"parley/templates"
)

// Replies are read as sentences (package intent): a choice, an answer to a
// proposal, or taking one back. A clear intent acts and is confirmed to the
// writer with how to undo it; two intents, or none where a question was
// asked, are asked back and nothing is relayed; what a reply says beyond its
// intent goes where it belongs.

// undoWindow is how long a choice made in writing can be taken back.
const undoWindow = 24 * time.Hour

type replyAction int

const (
	asMessage   replyAction = iota // an ordinary message: relayed as the state says
	actOn                          // a clear intent: fire it
	askBack                        // unclear where an answer was asked: ask again
	undoIt                         // take back the writer's last choice
	unavailable                    // a one-word answer that does not apply now
)

// replyReading is what Parley makes of a party's reply in a case.
type replyReading struct {
	action replyAction
	kind   intent.Kind
	more   bool // the reply says more than its intent
}

// allowedIntents are the intents a role may state in the case's state.
func allowedIntents(c *casestore.Case, role route.Role) []intent.Kind {
	proposal := c.State == mediate && c.Proposal != nil && !c.Proposal.Answered()
	if c.State == closed {
		// Only a choice that closed the case can still be taken back.
		if u := c.Undoable; u != nil && u.By == role {
			return []intent.Kind{intent.Undo}
		}
		return nil
	}
	var ks []intent.Kind
	switch role {
	case route.Consumer:
		ks = append(ks, intent.Withdraw, intent.Undo)
		switch c.State {
		case open, choice:
			ks = append(ks, intent.Resolved, intent.Mediation, intent.Wait)
		}
		if proposal {
			ks = append(ks, intent.Accept, intent.Reject)
		}
	case route.Trader:
		ks = append(ks, intent.Undo)
		if proposal {
			ks = append(ks, intent.Accept, intent.Reject)
		}
	}
	return ks
}

// questionPending reports whether the writer owes an answer: the consumer's
// choice, or either party's answer to an open proposal. A reply to a relay
// of the other party's words is a message, not the answer.
func (e *Engine) questionPending(c *casestore.Case, role route.Role, inReplyTo string) bool {
	asked := (role == route.Consumer && c.State == choice) ||
		(c.State == mediate && c.Proposal != nil && !c.Proposal.Answered() && (role == route.Consumer || role == route.Trader))
	if !asked || inReplyTo == "" {
		return asked
	}
	var kind string
	e.store.View(func(tx *casestore.Tx) error {
		outs, err := tx.CaseOutbound(c.ID)
		for _, o := range outs {
			if strings.Trim(o.MessageID, "<>") == strings.Trim(inReplyTo, "<>") {
				kind = o.Kind
			}
		}
		return err
	})
	return kind != templates.Relay
}

// readReply decides what a reply means.
// messageWords is how many words beyond any intent make a reply to a
// question a message for the others rather than an unclear answer.
const messageWords = 8

func (e *Engine) readReply(c *casestore.Case, role route.Role, text, inReplyTo string) replyReading {
	lang := c.PartyByRole(role).Lang
	rd := e.intents.Read(text, lang)
	allowed := allowedIntents(c, role)
	kind, one := rd.One(allowed...)
	pending := e.questionPending(c, role, inReplyTo)
	conflict := !one && len(filterKinds(rd.Intents, allowed)) > 1
	switch {
	case rd.Keyword && !one && !rd.More:
		// "ACCEPT" with no proposal open: answered, not relayed.
		return replyReading{action: unavailable}
	case one && kind == intent.Undo:
		return replyReading{action: undoIt}
	case one && (pending || rd.Keyword || !rd.More):
		// Outside an answer, only a reply that is (nearly) all intent acts:
		// "partly resolved, but the screen is still broken" is a message.
		return replyReading{action: actOn, kind: kind, more: rd.More}
	case pending && len(filterKinds(rd.Intents, allowed)) == 0 && len(filterKinds(rd.Negated, allowed)) == 0 && rd.Words >= messageWords:
		// No sign of an answer at all, and a message's worth of words for
		// the others ("the shop still has not answered my emails ..."):
		// passed on. A short line ("Thank you for your email.") is asked back.
		return replyReading{action: asMessage}
	case pending && (conflict || !one):
		return replyReading{action: askBack, more: rd.More}
	case conflict && !rd.More:
		return replyReading{action: askBack}
	}
	return replyReading{action: asMessage}
}

func filterKinds(ks, allowed []intent.Kind) []intent.Kind {
	var out []intent.Kind
	for _, k := range ks {
		for _, a := range allowed {
			if k == a {
				out = append(out, k)
			}
		}
	}
	return out
}

// triggerOf turns an intent into the procedure's trigger.
func triggerOf(k intent.Kind, by route.Role) trigger {
	switch k {
	case intent.Accept:
		return answer{by: by, accepted: true}
	case intent.Reject:
		return answer{by: by, accepted: false}
	}
	return chose{route.Choice(k)}
}

// choiceLabel is how a choice is named to its maker, in lang.
func (e *Engine) choiceLabel(k intent.Kind, lang string) string {
	id := map[intent.Kind]string{intent.Resolved: "ChoiceResolved", intent.Mediation: "ChoiceMediation", intent.Wait: "ChoiceWait",
		intent.Withdraw: "ChoiceWithdraw", intent.Accept: "ProposalAccept", intent.Reject: "ProposalReject"}[k]
	return e.loc.T(lang, id, nil)
}

// actOnReply applies a clear intent read from a reply, confirms it to the
// writer with how to undo it, and sends what the reply says beyond its
// intent where it belongs. A choice not open yet is answered with when it
// opens.
func (r *run) actOnReply(k intent.Kind, more bool, text string, atts []evidence.Attachment) error {
	before := r.c.Snapshot()
	lang := r.c.PartyByRole(r.by).Lang
	until := r.now.Add(undoWindow)
	r.undoUntil = until
	handled, err := r.fire(triggerOf(k, r.by))
	if err != nil {
		return err
	}
	if !handled {
		if r.c.State == open && (k == intent.Mediation || k == intent.Wait) {
			if err := r.notify(r.by, templates.Notice, templates.Data{Intro: "NotYetMediation", Deadline: at(r.due(cWindowEnd))}); err != nil {
				return err
			}
			if more {
				return r.relayWords(text, atts)
			}
			return nil
		}
		return r.notify(r.by, templates.Notice, templates.Data{Intro: "ChoiceUnavailable"})
	}
	answered := k == intent.Accept || k == intent.Reject
	if r.c.State == before.State && !answered {
		// Refused (no more extensions, a complaint too old): the answer says
		// why and the case did not move; there is nothing to undo.
		if more {
			return r.keepWords(text)
		}
		return nil
	}
	// What the choice told whom, so an undo can set it right.
	var told []route.Role
	for _, id := range r.out {
		if o, err := r.tx.Outbound(id); err == nil && o.Role != "" && o.Role != r.by && !containsRole(told, o.Role) {
			told = append(told, o.Role)
		}
	}
	r.c.Undoable = &casestore.Undoable{By: r.by, Choice: string(k), At: r.now, Until: until, Moves: r.c.Moves, Told: told, Before: before}
	if err := r.tx.SetTimer(r.c, timer(cUndoEnd, until)); err != nil {
		return err
	}
	// An answer that left the case in mediation was confirmed with how to
	// undo it (notifyAnswer); anything else is confirmed here.
	if !answered || r.c.State != mediate {
		d := templates.Data{Intro: "Understood", Choice: r.e.choiceLabel(k, lang)}
		d.Lines = []string{r.e.undoLine(lang, until)}
		if err := r.notify(r.by, templates.Notice, d); err != nil {
			return err
		}
	}
	if !more {
		return nil
	}
	if len(readers(r.c.State, r.by)) > 0 && r.c.State == mediate {
		return r.relayWords(text, atts)
	}
	return r.keepWords(text)
}

// undoLine tells, in lang, how to take a choice back until when.
func (e *Engine) undoLine(lang string, until time.Time) string {
	return e.loc.T(lang, "UndoHow", templates.Data{Deadline: at(until), Keywords: e.keyword(lang, "KeywordUndo")})
}

func containsRole(rs []route.Role, r route.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// askBackReply answers an unclear reply with the question again; nothing
// is relayed, and what it said is kept for the mediator. Labelled field
// lines in it are recorded (and may open a choice: a corrected date).
func (r *run) askBackReply(text string, given []fieldValue, unclear []unclearValue) error {
	if err := r.keepWords(text); err != nil {
		return err
	}
	sent := len(r.out)
	if err := r.recordFields(given); err != nil {
		return err
	}
	if err := r.askUnclear(unclear); err != nil {
		return err
	}
	resent := false
	for _, id := range r.out[sent:] {
		if o, err := r.tx.Outbound(id); err == nil && o.Kind == templates.Choice {
			resent = true
		}
	}
	if r.c.State == choice && r.by == route.Consumer {
		if resent || len(given) > 0 {
			return nil // the reply gave information, not a choice: nothing to ask
		}
		return r.sendChoices("AskWhichChoice")
	}
	if len(given) > 0 {
		return nil
	}
	lang := r.c.PartyByRole(r.by).Lang
	return r.notify(r.by, templates.Notice, templates.Data{Intro: "AskWhichAnswer",
		Keywords: r.e.keyword(lang, "KeywordAccept") + ", " + r.e.keyword(lang, "KeywordReject")})
}

// keepWords records what a party wrote with a choice, not passed on, for
// the mediator's briefing.
func (r *run) keepWords(text string) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvNote, Role: r.by, Message: r.message, Text: clip(text, 4000)})
}

// relayWords relays a party's words to whoever reads that party's mail in
// the case's state now.
func (r *run) relayWords(text string, atts []evidence.Attachment) error {
	fwd, list := r.e.selectForward(atts)
	for _, reader := range readers(r.c.State, r.by) {
		rp := r.c.PartyByRole(reader)
		if rp.Email == "" {
			continue
		}
		b, err := r.e.render(r.c, reader, templates.Relay, r.translated.data(templates.Data{CaseID: r.c.ID, Name: r.e.partyName(r.c, r.by, rp.Lang), Text: text,
			Attachments: list, ForMediator: reader == route.Mediator, InMediation: r.c.State == mediate && reader != route.Mediator}, r.e, rp.Lang), fwd, false)
		if err != nil {
			return err
		}
		if reader == route.Mediator {
			b.fromName = r.e.loc.T(rp.Lang, "ViaParley", map[string]string{"Name": r.c.ID + " " + r.e.partyName(r.c, r.by, rp.Lang)})
		}
		sent, err := r.e.queue(r.tx, r.c, reader, b)
		if err != nil {
			return err
		}
		r.out = append(r.out, sent...)
		if err := r.relayed(r.by, sent); err != nil {
			return err
		}
	}
	return nil
}

// undo takes back the writer's last choice made in writing, within a day and
// while nothing else moved the case: the case returns to where it was, and
// everyone who was told of the choice is told it no longer holds.
func (r *run) undo() error {
	u := r.c.Undoable
	if u == nil || u.By != r.by || r.now.After(u.Until) || u.Moves != r.c.Moves || r.c.Purged {
		return r.notify(r.by, templates.Notice, templates.Data{Intro: "UndoTooLate"})
	}
	date := at(u.At)
	for _, role := range u.Told {
		if err := r.notify(role, templates.Notice, templates.Data{Intro: "UndoToOthers", Date: date}); err != nil {
			return err
		}
	}
	from := r.c.State
	b := u.Before
	r.c.State, r.c.Outcome, r.c.Closed, r.c.Extensions = b.State, b.Outcome, b.Closed, b.Extensions
	r.c.Proposal, r.c.TraderAnswered, r.c.MediationExtended, r.c.Mediator = b.Proposal, b.TraderAnswered, b.MediationExtended, b.Mediator
	// A deadline that passed meanwhile gets a day, so the case does not
	// close the moment it is back.
	timers := append([]casestore.Timer(nil), b.Timers...)
	for i := range timers {
		timers[i].Retry, timers[i].Attempts, timers[i].Parked = time.Time{}, 0, false
		if timers[i].Due.Before(r.now.Add(time.Hour)) {
			timers[i].Due = r.now.Add(undoWindow)
		}
	}
	if err := r.tx.SetTimers(r.c, timers...); err != nil {
		return err
	}
	r.c.Undoable = nil
	r.c.Moves++
	if err := r.tx.DropTimer(r.c, string(cUndoEnd)); err != nil {
		return err
	}
	if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvStateChange, Role: r.by, Message: r.message,
		Text: "undo " + u.Choice + ": " + from + " -> " + r.c.State}); err != nil {
		return err
	}
	lang := r.c.PartyByRole(r.by).Lang
	intro := templates.Data{Intro: "UndoDone", Choice: r.e.choiceLabel(intent.Kind(u.Choice), lang)}
	if r.c.State == choice && r.by == route.Consumer {
		return r.sendChoices("UndoDone", intro.Choice)
	}
	return r.notify(r.by, templates.Notice, intro)
}

// undoExpired: the day to take a choice back is over.
func (r *run) undoExpired() error {
	r.c.Undoable = nil
	return nil
}
