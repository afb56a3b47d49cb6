package procedure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"parley/casestore"
	"parley/config"
	"parley/evidence"
	"parley/route"
	"parley/templates"
)

// commandHelp is the list sent back for an unknown or malformed command.
var commandHelp = []string{
	"#note              the rest of the message is an internal note, never relayed",
	"#to consumer       the rest goes to the consumer only (#to trader: the trader only)",
	"#take              become the mediator of this case",
	"#extend 30d        extend the mediation once (complex cases); both parties are told",
	"#propose           the rest of the message is a settlement proposal",
	"#refer             refer the case to arbitration (if a body is configured and the claim is eligible)",
	"#set FIELD VALUE   record a complaint field: amount 300 EUR, order-date 2026-10-03, order-ref A-12,",
	"                   complained-on 2026-10-05, contacted yes, wants refund",
	"#close OUTCOME     close the case: " + strings.Join(closeOutcomes, ", "),
	"#status            the state of the case, its fields and deadlines",
}

// closeOutcomes are the outcomes #close accepts; referral goes through #refer,
// which checks the conditions and sends the case file.
var closeOutcomes = slices.DeleteFunc(slices.Clone(casestore.Outcomes), func(o string) bool { return o == casestore.OutcomeReferred })

type command struct {
	name, arg, line string
}

// parseCommands splits the leading command lines from the rest of a message.
func parseCommands(text string) ([]command, string) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var cmds []command
	i := 0
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" && len(cmds) == 0 {
			continue
		}
		if !strings.HasPrefix(l, "#") {
			break
		}
		name, arg, _ := strings.Cut(l[1:], " ")
		cmds = append(cmds, command{name: strings.ToLower(name), arg: strings.TrimSpace(arg), line: l})
	}
	return cmds, strings.TrimSpace(strings.Join(lines[i:], "\n"))
}

// mediatorMail handles mail to a case's mediator address: commands first,
// then the rest is relayed to both parties (or kept, or sent to one).
func (e *Engine) mediatorMail(ctx context.Context, in *inbound, c *casestore.Case) error {
	msg, pm := in.msg, in.parsed
	var med casestore.Mediator
	var registered bool
	e.store.View(func(tx *casestore.Tx) error {
		m, err := tx.Mediator(msg.From)
		med, registered = m, err == nil && !in.unauthenticated
		return nil
	})
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply to the mediator address: kept"
		return e.finish(in, e.logOnly(c.ID, casestore.Event{Kind: casestore.EvAutoReply, Role: route.Mediator, Message: msg.ID, Text: in.auto}))
	}
	if !registered && e.fromArbitrationBody(in) {
		return e.bodyMail(in, c)
	}
	cmds, rest := parseCommands(in.text)
	if !registered {
		party := e.speaksFor(c, msg.From) // outside the transaction: it reads the registry
		msg.Flags = appendFlag(msg.Flags, casestore.FlagQuarantined)
		msg.Note = "sender is not a registered mediator"
		return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
			cc, err := tx.Case(c.ID)
			if err != nil {
				return nil, err
			}
			text := "refused: sender is not a registered mediator"
			if len(cmds) > 0 {
				text += "; commands: " + cmds[0].line
			}
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvCommand, Role: route.Mediator, Message: msg.ID, Text: text}); err != nil {
				return nil, err
			}
			var ids []uint64
			// A party of the case who wrote to the mediator's address learns,
			// in its language and at its own case address, where to write; a
			// stranger learns that only mediators act on cases.
			switch {
			case in.auto != "" || msg.MailFrom == "":
			case party != "" && !e.toldRecently(tx, cc.ID, cc.PartyByRole(party).Email, kindWrongAddress):
				b, err := e.render(cc, party, templates.Notice, templates.Data{Intro: "WrongAddressParty", CaseID: cc.ID, Title: cc.Title}, nil, true)
				if err != nil {
					return nil, err
				}
				b.kind = kindWrongAddress
				sent, err := e.queue(tx, cc, party, b)
				if err != nil {
					return nil, err
				}
				ids = append(ids, sent...)
			case party == "" && !e.toldRecently(tx, cc.ID, msg.MailFrom, templates.Quarantine):
				lang := e.partyLang(in.parsed, e.loc.Default())
				text, err := e.tmpl.Render(templates.Notice, lang, templates.Data{Intro: "CommandRefused", CaseID: cc.ID})
				if err != nil {
					return nil, err
				}
				ent, err := renderBody(text, nil)
				if err != nil {
					return nil, err
				}
				b := body{entity: ent, lang: lang, kind: templates.Quarantine, auto: true, fromName: e.serviceName(""), subject: e.loc.T(lang, "QuarantineSubject", nil)}
				o, err := e.queueTo(tx, cc, &casestore.Party{Email: msg.MailFrom}, "postmaster@"+e.domain, b)
				if err != nil {
					return nil, err
				}
				ids = append(ids, o.ID)
			}
			return ids, tx.PutCase(cc)
		})
	}
	msg.Role = route.Mediator
	// The mediator's words, translated for the parties before the transaction.
	var tr translated
	if rest != "" && !slices.ContainsFunc(cmds, func(c command) bool { return c.name == "note" || c.name == "propose" }) {
		tr = e.translateFor(ctx, c, rest, langOr(med.Lang, e.loc.Default()), []route.Role{route.Consumer, route.Trader})
	}
	err := e.finish(in, e.withRun(c.ID, c.State, msg, route.Mediator, func(r *run) error {
		r.translated = tr
		return r.mediatorCommands(med, cmds, rest, pm.Attachments)
	}))
	in.step.barrier = len(cmds) > 0
	return err
}

// kindWrongAddress names the notice to a party who wrote to the mediator's address.
const kindWrongAddress = "wrong_address"

// partyOf is the role of the consumer or trader whose address addr is.
func partyOf(c *casestore.Case, addr string) route.Role {
	switch casestore.NormalizeEmail(addr) {
	case "":
		return ""
	case casestore.NormalizeEmail(c.Consumer.Email):
		return route.Consumer
	case casestore.NormalizeEmail(c.Trader.Email):
		return route.Trader
	}
	return ""
}

// fromArbitrationBody: the configured body answering a referral.
func (e *Engine) fromArbitrationBody(in *inbound) bool {
	a := e.cfg.Procedure.ArbitrationAddress
	return a != "" && casestore.NormalizeEmail(in.msg.From) == casestore.NormalizeEmail(a)
}

// bodyMail keeps what the arbitration body writes to a case's mediator
// address and passes it to the case's mediator; it acts on nothing.
func (e *Engine) bodyMail(in *inbound, c *casestore.Case) error {
	in.msg.Role = ""
	in.msg.Note = "from the arbitration body"
	text := in.text
	var b *body
	if c.Mediator.Email != "" {
		rb, err := e.render(c, route.Mediator, templates.Relay, templates.Data{CaseID: c.ID, Name: e.cfg.Procedure.ArbitrationBody, Text: text,
			Attachments: attachmentList(in.parsed.Attachments), ForMediator: true, Closed: !c.Open()}, nil, false)
		if err != nil {
			return err
		}
		rb.fromName = e.loc.T(c.Mediator.Lang, "ViaParley", map[string]string{"Name": c.ID + " " + e.cfg.Procedure.ArbitrationBody})
		b = &rb
	}
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(c.ID)
		if err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvMailIn, Message: in.msg.ID, Text: "from the arbitration body"}); err != nil {
			return nil, err
		}
		var ids []uint64
		if b != nil && cc.Mediator.Email == c.Mediator.Email {
			sent, err := e.queue(tx, cc, route.Mediator, *b)
			if err != nil {
				return nil, err
			}
			ids = append(ids, sent...)
		}
		return ids, tx.PutCase(cc)
	})
}

// mediatorCommands runs the commands of one mediator message in order, then
// relays the rest unless a command failed or kept it.
func (r *run) mediatorCommands(med casestore.Mediator, cmds []command, rest string, atts []evidence.Attachment) error {
	relayTo := []route.Role{route.Consumer, route.Trader}
	r.replyLang = langOr(med.Lang, r.e.loc.Default())
	// The mediator wrote: the idle clock starts again before anything is reported.
	if err := r.e.touchMediation(r.tx, r.c); err != nil {
		return err
	}
	t := func(id string, d any) string { return r.e.loc.T(r.replyLang, id, d) }
	bad := false
	for _, cmd := range cmds {
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvCommand, Role: route.Mediator, Message: r.message, Text: cmd.line}); err != nil {
			return err
		}
		if !r.c.Open() && cmd.name != "status" && cmd.name != "note" {
			r.replies = append(r.replies, "? "+cmd.line, t("CommandClosed", nil))
			bad = true
			continue
		}
		var handled bool
		var err error
		switch cmd.name {
		case "note":
			if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvNote, Role: route.Mediator, Message: r.message, Text: strings.TrimSpace(cmd.arg + "\n" + rest)}); err != nil {
				return err
			}
			relayTo, handled = nil, true
		case "to":
			switch strings.ToLower(cmd.arg) {
			case "consumer":
				relayTo, handled = []route.Role{route.Consumer}, true
			case "trader":
				relayTo, handled = []route.Role{route.Trader}, true
			}
		case "take":
			handled, err = r.fire(take{med})
		case "extend":
			d, perr := config.ParseDuration(cmd.arg)
			switch {
			case r.c.State != mediate:
				r.replies = append(r.replies, t("ExtendOnlyInMediation", nil))
				handled = true
			case r.c.MediationExtended:
				r.replies = append(r.replies, t("ExtendUsed", templates.Data{Deadline: at(r.due(cMediationEnd))}))
				handled = true
			case perr == nil && d > 0 && d <= r.e.cfg.Procedure.MediationMax.From(r.now).Sub(r.now):
				handled, err = r.fire(extend{d})
			}
		case "propose":
			if rest != "" {
				relayTo = nil
				handled, err = r.fire(propose{rest})
			}
		case "refer":
			handled, err = r.fire(refer{})
		case "set":
			name, value, _ := strings.Cut(cmd.arg, " ")
			fv, perr := r.e.reader.setValue(strings.ToLower(name), strings.TrimSpace(value), r.e.cfg.Procedure.Currency, r.replyLang)
			var u *unclearError
			switch {
			case perr == nil:
				handled, err = true, r.recordFields([]fieldValue{fv})
			case errors.As(perr, &u):
				r.replies = append(r.replies, "? "+cmd.line, t("SetUnclear", templates.Data{Text: u.v.wrote, Options: r.e.optionsIn(r.replyLang, u.v)}))
				handled = true
			}
		case "close":
			if o := strings.ToLower(cmd.arg); slices.Contains(closeOutcomes, o) {
				handled, err = r.fire(closeAs{o})
			} else {
				r.replies = append(r.replies, "? "+cmd.line, t("CloseUnknownOutcome", templates.Data{Options: strings.Join(closeOutcomes, ", ")}))
				handled, bad = true, true
			}
		case "status":
			r.replies = append(r.replies, r.e.statusLines(r.c, r.replyLang)...)
			handled = true
		}
		if err != nil {
			return err
		}
		if !handled {
			bad = true
			r.replies = append(r.replies, "? "+cmd.line)
		}
	}
	if bad {
		r.replies = append(r.replies, "", t("CommandHelp", nil))
		r.replies = append(r.replies, commandHelp...)
	}
	if rest != "" && !bad && !r.c.Open() && len(relayTo) > 0 {
		r.replies = append(r.replies, t("CaseClosedNotRelayed", nil))
	}
	if len(r.recorded) > 0 {
		// The consumer sees what the mediator recorded about their complaint.
		var shown []string
		for _, fv := range r.recorded {
			shown = append(shown, r.e.keyword(r.c.Consumer.Lang, fv.label)+": "+fv.display(r.e, r.c.Consumer.Lang))
		}
		if err := r.notify(route.Consumer, templates.Notice, templates.Data{Intro: "MediatorRecorded", Lines: shown}); err != nil {
			return err
		}
	}
	if len(r.replies) > 0 {
		intro := "ReplyIntro"
		if len(cmds) == 1 && cmds[0].name == "status" {
			intro = "StatusIntro"
		}
		if err := r.replyToMediator(med, intro, r.replies); err != nil {
			return err
		}
	}
	if err := r.e.touchMediation(r.tx, r.c); err != nil {
		return err
	}
	if rest == "" || bad || !r.c.Open() {
		return nil // a failed command relays nothing: the mediator fixes and resends
	}
	for _, role := range relayTo {
		p := r.c.PartyByRole(role)
		if p.Email == "" {
			continue
		}
		b, err := r.e.render(r.c, role, templates.Relay, r.translated.data(templates.Data{CaseID: r.c.ID, Name: r.e.loc.T(p.Lang, "TheMediator", nil), Text: rest,
			Attachments: attachmentList(atts), InMediation: r.c.State == mediate}, r.e, p.Lang), atts, false)
		if err != nil {
			return err
		}
		b.fromName = r.e.mediatorName(r.c, p.Lang)
		sent, err := r.e.queue(r.tx, r.c, role, b)
		if err != nil {
			return err
		}
		r.out = append(r.out, sent...)
		if err := r.relayed(route.Mediator, sent); err != nil {
			return err
		}
	}
	return nil
}

// replyToMediator answers the mediator who wrote, from the case's mediator address.
func (r *run) replyToMediator(med casestore.Mediator, intro string, lines []string) error {
	d := templates.Data{Intro: intro, Lines: lines}
	if casestore.NormalizeEmail(r.c.Mediator.Email) == casestore.NormalizeEmail(med.Email) {
		return r.notify(route.Mediator, templates.Notice, d)
	}
	return r.tellMediator(med, d)
}

// recordFields applies complaint fields given after intake, records each
// change with who made it, and confirms what was understood: to the
// consumer by a notice, to a mediator in the reply.
func (r *run) recordFields(given []fieldValue) error {
	lang := r.c.Consumer.Lang
	if r.by == route.Mediator {
		lang = r.replyLang
	}
	var lines []string
	var changed []fieldValue
	for _, fv := range given {
		was, ok := fv.apply(&r.c.Fields)
		if !ok {
			continue
		}
		changed = append(changed, fv)
		if was == "" {
			was = "unknown"
		}
		text := fmt.Sprintf("%s = %s (was %s)", fv.name, fv.shown, was)
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvFieldSet, Role: r.by, Message: r.message, Text: text}); err != nil {
			return err
		}
		lines = append(lines, r.e.keyword(lang, fv.label)+": "+fv.display(r.e, lang))
	}
	if len(lines) == 0 {
		return nil
	}
	if r.by == route.Mediator {
		r.replies = append(r.replies, r.e.loc.T(lang, "FieldsRecorded", templates.Data{CaseID: r.c.ID}))
		r.replies = append(r.replies, lines...)
		r.recorded = append(r.recorded, changed...)
		return nil
	}
	if err := r.notify(route.Consumer, templates.Notice, templates.Data{Intro: "FieldsRecorded", Lines: lines}); err != nil {
		return err
	}
	// A corrected date of the first complaint can open mediation: the
	// consumer gets the choices again, with the same deadline.
	for _, fv := range changed {
		if fv.name == "complained-on" && r.c.State == choice && r.admissible() {
			return r.sendChoices("ChoicesAgain")
		}
	}
	return nil
}

// mediatorName is the From display name of what the mediator says: the
// mediator's name, as the parties were told it.
func (e *Engine) mediatorName(c *casestore.Case, lang string) string {
	name := c.Mediator.Name
	if name == "" {
		name = e.loc.T(lang, "TheMediator", nil)
	}
	return e.loc.T(lang, "ViaParley", map[string]string{"Name": name})
}
