package procedure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"parley/casestore"
	"parley/evidence"
	"parley/route"
	"parley/templates"
	"parley/threading"
)

// caseMail handles mail from a party (or someone claiming to be one) to the
// party's case address.
func (e *Engine) caseMail(ctx context.Context, in *inbound, caseID string, role route.Role) error {
	pm, msg := in.parsed, in.msg
	var c *casestore.Case
	if err := e.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(caseID); return err }); err != nil {
		return errPermanent{err}
	}
	if c.Purged {
		return e.afterPurge(in, c)
	}
	msg.CaseID, msg.Role = c.ID, role
	if role == route.Mediator {
		return e.mediatorMail(ctx, in, c)
	}
	party := c.PartyByRole(role)
	// Sender binding: only the party's own address speaks for the party,
	// or for a registered shop any of its addresses and domains.
	if e.speaksFor(c, msg.From) != role || in.unauthenticated {
		return e.quarantine(in, c, role)
	}
	staff := role == route.Trader && casestore.NormalizeEmail(msg.From) != casestore.NormalizeEmail(party.Email)
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply (" + in.auto + "): kept, not relayed"
		return e.finish(in, e.logOnly(caseID, casestore.Event{Kind: casestore.EvAutoReply, Role: role, Message: msg.ID, Text: in.auto}))
	}
	text := in.text

	// "LANGUAGE es" (in any language's word) chooses the language Parley
	// writes to this party in.
	if lang, ok := e.languageChoice(text); ok && c.Open() {
		err := e.finish(in, e.withRun(caseID, c.State, msg, role, func(r *run) error {
			r.c.PartyByRole(role).Lang = lang
			if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvFieldSet, Role: role, Message: msg.ID, Text: "language = " + lang}); err != nil {
				return err
			}
			return r.notify(role, templates.Notice, templates.Data{Intro: "LanguageChanged"})
		}))
		in.step.barrier = true
		return err
	}

	// A reply is read for what it means: a choice or an answer acts (and is
	// confirmed), an unclear answer is asked again, anything else is a
	// message for the others.
	{
		rr := e.readReply(c, role, text, pm.InReplyTo)
		var tr translated
		if rr.action == actOn && rr.more {
			// The words beyond the choice may be relayed: translate them now,
			// outside the transaction, for whoever may read them.
			tr = e.translateFor(ctx, c, text, party.Lang, []route.Role{route.Consumer, route.Trader, route.Mediator})
		}
		var fn func(r *run) error
		switch rr.action {
		case unavailable:
			fn = func(r *run) error {
				return r.notify(role, templates.Notice, templates.Data{Intro: "ChoiceUnavailable"})
			}
		case actOn:
			fn = func(r *run) error { r.translated = tr; return r.actOnReply(rr.kind, rr.more, text, pm.Attachments) }
		case askBack:
			var given []fieldValue
			var unclear []unclearValue
			if role == route.Consumer {
				given, unclear = e.reader.labelled(text, e.cfg.Procedure.Currency, c.Consumer.Lang)
			}
			fn = func(r *run) error { return r.askBackReply(text, given, unclear) }
		case undoIt:
			fn = func(r *run) error { return r.undo() }
		}
		if fn != nil {
			// The writer wrote: the same as for a relayed message (thread,
			// a colleague's copies, the clocks a word stops), then the act.
			act := fn
			fn = func(r *run) error {
				e.wrote(r.c, role, msg.From, pm.MessageID, staff)
				if err := e.partyWrote(r.tx, r.c, role); err != nil {
					return err
				}
				return act(r)
			}
			err := e.finish(in, e.withRun(caseID, c.State, msg, role, fn))
			in.step.barrier = true
			return err
		}
	}

	switch c.State {
	case casestore.StateIntake:
		if role != route.Consumer {
			return e.finish(in, e.logOnly(caseID, casestore.Event{Kind: casestore.EvMailIn, Role: role, Message: msg.ID}))
		}
		return e.intakeReply(ctx, in, c, text)
	case casestore.StateClosed:
		msg.Note = "case closed: kept, not relayed"
		return e.finish(in, e.closedKept(caseID, role, msg, casestore.Event{Kind: casestore.EvMailIn, Role: role, Message: msg.ID, Text: "after closing"}))
	}

	// Labelled lines from the consumer complete or correct the complaint's
	// fields at any time before referral ("Amount: 300 EUR").
	var given []fieldValue
	var unclear []unclearValue
	if role == route.Consumer {
		given, unclear = e.reader.labelled(text, e.cfg.Procedure.Currency, c.Consumer.Lang)
	}
	fwd, list := e.selectForward(pm.Attachments)
	for _, a := range fwd {
		in.forwarded[a.SHA256] = true
	}
	tr := e.translateFor(ctx, c, text, party.Lang, readers(c.State, role))
	bodies := map[route.Role]body{}
	for _, reader := range readers(c.State, role) {
		rp := c.PartyByRole(reader)
		if rp.Email == "" {
			continue
		}
		atts := fwd
		if reader == route.Mediator && pm.Malformed() {
			// The mediator gets what could not be parsed as it arrived.
			atts = append(append([]evidence.Attachment(nil), fwd...), evidence.Attachment{Name: "original.eml", Declared: "message/rfc822", Data: in.raw, SHA256: in.msg.SHA256})
		}
		b, err := e.render(c, reader, templates.Relay, tr.data(templates.Data{
			CaseID: c.ID, Name: e.partyName(c, role, rp.Lang), Text: text, Attachments: list, ForMediator: reader == route.Mediator,
			InMediation: c.State == mediate && reader != route.Mediator,
		}, e, rp.Lang), atts, false)
		if err != nil {
			return err
		}
		if reader == route.Mediator {
			// The mediator's client lists every case's mail: the case id
			// first, then who wrote.
			b.fromName = e.loc.T(rp.Lang, "ViaParley", map[string]string{"Name": c.ID + " " + e.partyName(c, role, rp.Lang)})
		}
		bodies[reader] = b
	}
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(caseID)
		if err != nil {
			return nil, err
		}
		// Rendering above used c; if the case moved on meanwhile, redo it.
		if cc.State != c.State || cc.PartyByRole(role).Email != party.Email || cc.Mediator.Email != c.Mediator.Email {
			return nil, errStale
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvMailIn, Role: role, Message: msg.ID, Digest: msg.SHA256}); err != nil {
			return nil, err
		}
		e.wrote(cc, role, msg.From, pm.MessageID, staff)
		if err := e.partyWrote(tx, cc, role); err != nil {
			return nil, err
		}
		ids, err := e.queueAll(tx, cc, bodies)
		if err != nil {
			return nil, err
		}
		msg.RelayedTo = nil
		for _, id := range ids {
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvRelayed, Role: role, Message: msg.ID, Out: id}); err != nil {
				return nil, err
			}
			o, err := tx.Outbound(id)
			if err != nil {
				return nil, err
			}
			msg.RelayedTo = append(msg.RelayedTo, casestore.Relay{Role: o.Role, Out: id, At: o.Created})
		}
		if err := markRelays(tx, msg.RelayedTo, msg.Received); err != nil {
			return nil, err
		}
		if len(given) > 0 || len(unclear) > 0 {
			r := e.newRun(tx, cc)
			r.by, r.message = role, msg.ID
			if err := r.recordFields(given); err != nil {
				return nil, err
			}
			if err := r.askUnclear(unclear); err != nil {
				return nil, err
			}
			ids = append(ids, r.out...)
		}
		return ids, tx.PutCase(cc)
	})
}

// languageChoice reads a first line "LANGUAGE es" (or "TAAL Nederlands",
// "JĘZYK polski"): the keyword of any language, then a supported language's
// code or name.
func (e *Engine) languageChoice(text string) (string, bool) {
	first, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	f := strings.Fields(strings.Trim(first, ".!*\"' "))
	if len(f) != 2 {
		return "", false
	}
	isKeyword := false
	for _, k := range e.loc.Labels("KeywordLanguage") {
		isKeyword = isKeyword || strings.EqualFold(k, f[0])
	}
	if !isKeyword {
		return "", false
	}
	want := strings.ToLower(strings.Trim(f[1], ".,;:"))
	for _, lang := range e.loc.Languages() {
		if want == lang || want == strings.ToLower(e.loc.T(lang, "LanguageName", nil)) || want == strings.ToLower(e.loc.LanguageName("en", lang)) {
			return lang, true
		}
	}
	return "", false
}

// wrote records that a party wrote: its Message-ID joins its thread, so
// Parley's next message nests under it, and a shop's colleague who wrote gets
// copies of the shop's mail from now on.
func (e *Engine) wrote(c *casestore.Case, role route.Role, from, messageID string, staff bool) {
	if messageID != "" {
		p := c.PartyByRole(role)
		p.Thread = appendThread(p.Thread, messageID)
	}
	if staff && !slices.ContainsFunc(c.TraderStaff, func(a string) bool { return strings.EqualFold(a, from) }) {
		c.TraderStaff = append(c.TraderStaff, from)
	}
}

// speaksFor is the role of the consumer or trader an address speaks for in
// case c: the party's own address, or for a registered shop one of its
// staff addresses or an address at one of its domains.
func (e *Engine) speaksFor(c *casestore.Case, addr string) route.Role {
	if r := partyOf(c, addr); r != "" {
		return r
	}
	if c.Trader.Handle == "" || addr == "" {
		return ""
	}
	var tr casestore.Trader
	if err := e.store.View(func(tx *casestore.Tx) (err error) { tr, err = tx.Trader(c.Trader.Handle); return err }); err != nil {
		return ""
	}
	if tr.Speaks(addr) {
		return route.Trader
	}
	return ""
}

// partyWrote updates the clocks a party's mail affects: the trader's word in
// its window cancels the reminder; in mediation it stops the reply clock, and
// any word restarts the mediator's idle clock.
func (e *Engine) partyWrote(tx *casestore.Tx, c *casestore.Case, role route.Role) error {
	switch {
	case role == route.Trader && c.State == open:
		c.TraderAnswered = true
		return tx.DropTimer(c, string(cReminder))
	case role == route.Trader && c.State == mediate:
		if err := e.traderAnswered(tx, c); err != nil {
			return err
		}
	}
	return e.touchMediation(tx, c)
}

// closedKept logs mail to a closed case and tells its sender, at most once
// a day, that it was kept and not passed on.
func (e *Engine) closedKept(caseID string, role route.Role, msg *casestore.Message, ev casestore.Event) func(tx *casestore.Tx) ([]uint64, error) {
	return func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(caseID)
		if err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(cc, ev); err != nil {
			return nil, err
		}
		var ids []uint64
		p := cc.PartyByRole(role)
		if msg.MailFrom != "" && p != nil && p.Email != "" && !e.toldRecently(tx, cc.ID, p.Email, kindClosedKept) {
			b, err := e.render(cc, role, templates.Notice, templates.Data{Intro: "ClosedKept", CaseID: cc.ID, Title: cc.Title}, nil, true)
			if err != nil {
				return nil, err
			}
			b.kind = kindClosedKept
			sent, err := e.queue(tx, cc, role, b)
			if err != nil {
				return nil, err
			}
			ids = append(ids, sent...)
		}
		return ids, tx.PutCase(cc)
	}
}

// afterPurge keeps mail to a case whose personal data was deleted apart
// from it, as mail of no case, deleted in turn after the retention period;
// nobody is told anything that would no longer be true.
func (e *Engine) afterPurge(in *inbound, c *casestore.Case) error {
	in.msg.CaseID, in.msg.Role = "", ""
	in.msg.Note = "to case " + c.ID + ", whose personal data was deleted: kept apart, deleted after the retention period"
	return e.finish(in, nil)
}

// kindClosedKept names the notice that mail to a closed case was kept.
const kindClosedKept = "closed_kept"

// logOnly is work that appends one event to the case.
func (e *Engine) logOnly(caseID string, ev casestore.Event) func(tx *casestore.Tx) ([]uint64, error) {
	return func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(caseID)
		if err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(cc, ev); err != nil {
			return nil, err
		}
		return nil, tx.PutCase(cc)
	}
}

// withRun is work that loads the case, logs the message, runs fn and saves.
// state is what the step was prepared against.
func (e *Engine) withRun(caseID, state string, msg *casestore.Message, by route.Role, fn func(r *run) error) func(tx *casestore.Tx) ([]uint64, error) {
	var msgID uint64
	if msg != nil {
		msgID = msg.ID
	}
	return func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(caseID)
		if err != nil {
			return nil, err
		}
		if cc.State != state {
			return nil, errStale
		}
		if msgID != 0 {
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvMailIn, Role: by, Message: msgID}); err != nil {
				return nil, err
			}
		}
		r := e.newRun(tx, cc)
		r.by, r.message = by, msgID
		if err := fn(r); err != nil {
			return nil, err
		}
		if msg != nil {
			msg.RelayedTo = r.relayedTo // this attempt's: the transaction may run again
			if err := markRelays(tx, msg.RelayedTo, msg.Received); err != nil {
				return nil, err
			}
		}
		return r.out, tx.PutCase(cc)
	}
}

// intakeReply merges what the consumer adds to an incomplete complaint; once
// complete, the trader gets everything the consumer wrote so far.
func (e *Engine) intakeReply(ctx context.Context, in *inbound, c *casestore.Case, text string) error {
	traderValue, more, unclear := e.reader.read(text, c.Consumer.Lang)
	var trader casestore.Party
	var earlier []string
	var atts []evidence.Attachment
	err := e.store.View(func(tx *casestore.Tx) error {
		if c.Trader.Email == "" {
			trader = e.traderFrom(tx, traderValue, text, c.Consumer.Email, c.Consumer.Lang)
		}
		msgs, err := tx.CaseMessages(c.ID)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.ID == in.msg.ID || m.Role != route.Consumer || m.HasFlag(casestore.FlagQuarantined) || m.HasFlag(casestore.FlagAutoReply) {
				continue
			}
			raw, err := e.store.Raw(m.SHA256)
			if err != nil {
				return err
			}
			pm := e.parser.Parse(raw)
			if t := strings.TrimSpace(threading.StripQuoted(pm.Text)); t != "" {
				earlier = append(earlier, t)
			}
			atts = append(atts, pm.Attachments...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	complaint := strings.Join(append(earlier, text), "\n\n")
	atts = append(atts, in.parsed.Attachments...)
	// When this reply completes the complaint, the trader gets it in its
	// language: translated now, outside the transaction.
	var tr translated
	tp := trader
	if tp.Email == "" {
		tp = c.Trader
	}
	if merged := merge(c.Fields, more); tp.Email != "" && merged.Problem != "" && merged.Wants != "" {
		tr = e.translateFor(ctx, &casestore.Case{Trader: tp}, e.reader.dropUnfilled(complaint), c.Consumer.Lang, []route.Role{route.Trader})
		e.translateForMediators(ctx, merged.Problem, c.Consumer.Lang)
	}
	err = e.finish(in, e.withRun(c.ID, c.State, in.msg, route.Consumer, func(r *run) error {
		if r.c.Trader.Email == "" {
			r.c.Trader = trader
		}
		r.c.Fields = merge(r.c.Fields, more)
		return r.completeOrAsk(complaint, atts, unclear, tr)
	}))
	in.step.barrier = true
	return err
}

// quarantine keeps a message whose sender is not the party it wrote as, and
// tells the sender why: at most once a day per sender and case, never to
// automatic mail or an empty return path, in the sender's language, without
// the case's title, so forged senders cannot use Parley for backscatter.
func (e *Engine) quarantine(in *inbound, c *casestore.Case, role route.Role) error {
	msg := in.msg
	msg.Flags = appendFlag(msg.Flags, casestore.FlagQuarantined)
	msg.Note = fmt.Sprintf("sender %s is not the %s of case %s", msg.From, role, c.ID)
	if in.unauthenticated {
		msg.Note = fmt.Sprintf("From %s fails its domain's DMARC policy (%s)", msg.From, msg.Auth)
	}
	e.log.Info("message quarantined", "msg", msg.ID, "case", c.ID, "as", role, "from", msg.From)
	var b *body
	if in.auto == "" && msg.MailFrom != "" {
		// The sender's language; failing that, the language of the party it
		// wrote as (a shop's colleague most likely shares the shop's).
		lang := e.partyLang(in.parsed, langOr(c.PartyByRole(role).Lang, e.loc.Default()))
		fix := "QuarantineFixConsumer"
		if role == route.Trader {
			fix = "QuarantineFixTrader"
		}
		text, err := e.tmpl.Render(templates.Quarantine, lang, templates.Data{CaseID: c.ID, From: msg.From, Intro: fix})
		if err != nil {
			return err
		}
		ent, err := renderBody(text, nil)
		if err != nil {
			return err
		}
		b = &body{entity: ent, lang: lang, kind: templates.Quarantine, auto: true, fromName: e.serviceName(""), subject: e.loc.T(lang, "QuarantineSubject", nil)}
	}
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(c.ID)
		if err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvQuarantine, Role: role, Message: msg.ID, Text: "sender is not this party"}); err != nil {
			return nil, err
		}
		var ids []uint64
		if b != nil && !e.toldRecently(tx, cc.ID, msg.MailFrom, templates.Quarantine) {
			stranger := &casestore.Party{Email: msg.MailFrom}
			if in.parsed.MessageID != "" {
				stranger.Thread = []string{in.parsed.MessageID}
			}
			// From postmaster: the stranger must not get a case address to write to.
			o, err := e.queueTo(tx, cc, stranger, "postmaster@"+e.domain, *b)
			if err != nil {
				return nil, err
			}
			ids = append(ids, o.ID)
		}
		return ids, tx.PutCase(cc)
	})
}

// toldRecently reports whether addr got a quarantine notice for the case in
// the last day.
func (e *Engine) toldRecently(tx *casestore.Tx, caseID, addr, kind string) bool {
	outs, err := tx.CaseOutbound(caseID)
	if err != nil {
		return false
	}
	since := e.now().Add(-24 * time.Hour)
	for _, o := range outs {
		if o.Kind == kind && strings.EqualFold(o.To, addr) && o.Created.After(since) {
			return true
		}
	}
	return false
}

// selectForward picks the attachments a relay carries: within the count,
// per-file and per-message limits, and never an executable or script
// (by sniffed type). The list for the text names them all, marking the rest.
func (e *Engine) selectForward(atts []evidence.Attachment) ([]evidence.Attachment, []templates.Attachment) {
	lim := e.cfg.Evidence
	var fwd []evidence.Attachment
	var list []templates.Attachment
	var total int64
	for _, a := range atts {
		ok := len(fwd) < lim.MaxAttachments && a.Size <= int64(lim.MaxAttachmentSize) &&
			total+a.Size <= int64(lim.MaxRelaySize) && !evidence.Executable(a.Sniffed)
		if ok {
			fwd = append(fwd, a)
			total += a.Size
		}
		list = append(list, templates.Attachment{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Held: !ok})
	}
	return fwd, list
}

// bounce records a delivery failure reported to a VERP address.
func (e *Engine) bounce(in *inbound) error {
	n := in.msg.Target.Outbound
	in.msg.Flags = appendFlag(in.msg.Flags, casestore.FlagBounce)
	report := in.parsed.Bounce
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		o, err := tx.Outbound(n)
		if err != nil {
			return nil, nil // the row was deleted with its case: keep the bounce only
		}
		what := "bounced"
		failed := true
		if report != nil {
			what = fmt.Sprintf("bounced: %s %s", report.Status, report.Diagnostic)
			failed = report.Failed()
			if !failed {
				what = fmt.Sprintf("delivery report: %s %s", report.Action, report.Status)
			}
		} else if in.parsed.Subject != "" {
			what = "bounced: " + in.parsed.Subject
		}
		if failed {
			o.State, o.LastError, o.Done = casestore.OutFailed, what, e.now()
			if err := tx.PutOutbound(o); err != nil {
				return nil, err
			}
		}
		if o.CaseID == "" {
			return nil, nil
		}
		in.msg.CaseID = o.CaseID
		cc, err := tx.Case(o.CaseID)
		if err != nil {
			return nil, nil
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvBounce, Role: o.Role, Message: in.msg.ID, Out: o.ID, Text: what}); err != nil {
			return nil, err
		}
		return nil, tx.PutCase(cc)
	})
}

// markRelays records on each relayed row when its message arrived, so the
// queue can time relays from the 250 to delivery (the relay latency metric).
func markRelays(tx *casestore.Tx, relays []casestore.Relay, received time.Time) error {
	for _, rl := range relays {
		o, err := tx.Outbound(rl.Out)
		if err != nil {
			return err
		}
		o.InboundAt = received
		if err := tx.PutOutbound(o); err != nil {
			return err
		}
	}
	return nil
}
