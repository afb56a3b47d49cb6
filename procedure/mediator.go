package procedure

import (
	"slices"
	"strings"

	"parley/casestore"
	"parley/config"
	"parley/evidence"
	"parley/templates"
	"parley/threading"
)

// commandHelp is the list sent back for an unknown or malformed command.
var commandHelp = []string{
	"#note          the rest of the message is an internal note, never relayed",
	"#to consumer   the rest goes to the consumer only (#to trader: the trader only)",
	"#take          become the mediator of this case",
	"#extend 7d     move the case's deadline (Go duration or days)",
	"#propose       the rest of the message is a settlement proposal",
	"#refer         refer the case to arbitration (if eligible)",
	"#close OUTCOME close the case: " + strings.Join(casestore.Outcomes, ", "),
	"#status        the state of the case",
}

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
func (e *Engine) mediatorMail(in *inbound, c *casestore.Case) error {
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
		return e.finish(in, e.logOnly(c.ID, casestore.Event{Kind: casestore.EvAutoReply, Role: "mediator", Message: msg.ID, Text: in.auto}))
	}
	cmds, rest := parseCommands(threading.StripQuoted(pm.Text))
	if !registered {
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
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvCommand, Role: "mediator", Message: msg.ID, Text: text}); err != nil {
				return nil, err
			}
			var ids []uint64
			if msg.MailFrom != "" {
				b, err := e.render(cc, threading.Mediator, templates.Notice, withCase(templates.Data{Intro: "CommandRefused"}, cc), nil, true)
				if err != nil {
					return nil, err
				}
				o, err := e.queueTo(tx, cc, &casestore.Party{Email: msg.MailFrom}, e.partyAddress(cc.ID, threading.Mediator), b)
				if err != nil {
					return nil, err
				}
				ids = append(ids, o.ID)
			}
			return ids, tx.PutCase(cc)
		})
	}
	msg.Role = "mediator"
	err := e.finish(in, e.withRun(c.ID, c.State, msg.ID, threading.Mediator, func(r *run) error {
		return r.mediatorCommands(med, cmds, rest, pm.Attachments)
	}))
	in.step.barrier = len(cmds) > 0
	return err
}

// mediatorCommands runs the commands of one mediator message in order.
func (r *run) mediatorCommands(med casestore.Mediator, cmds []command, rest string, atts []evidence.Attachment) error {
	relayTo := []threading.Role{threading.Consumer, threading.Trader}
	var replies []string // lines for the mediator: status, help, errors
	bad := false
	for _, cmd := range cmds {
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvCommand, Role: "mediator", Message: r.message, Text: cmd.line}); err != nil {
			return err
		}
		var handled bool
		var err error
		switch cmd.name {
		case "note":
			if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvNote, Role: "mediator", Message: r.message, Text: strings.TrimSpace(cmd.arg + "\n" + rest)}); err != nil {
				return err
			}
			relayTo, handled = nil, true
		case "to":
			switch strings.ToLower(cmd.arg) {
			case "consumer":
				relayTo, handled = []threading.Role{threading.Consumer}, true
			case "trader":
				relayTo, handled = []threading.Role{threading.Trader}, true
			}
		case "take":
			r.mediator = &med
			handled, err = r.fire(tTake)
			if handled && r.c.Mediator.Email == "" {
				handled = false
			}
		case "extend":
			d, perr := config.ParseDuration(cmd.arg)
			if perr == nil && d > 0 {
				r.extend = d
				handled, err = r.fire(tExtend)
			}
		case "propose":
			if rest != "" {
				r.proposal, relayTo = rest, nil
				handled, err = r.fire(tPropose)
			}
		case "refer":
			handled, err = r.fire(tRefer)
		case "close":
			if slices.Contains(casestore.Outcomes, strings.ToLower(cmd.arg)) {
				r.outcome = strings.ToLower(cmd.arg)
				handled, err = r.fire(tClose)
			}
		case "status":
			replies = append(replies, r.e.statusLines(r.c, langOr(med.Lang, r.e.loc.Default()))...)
			handled = true
		}
		if err != nil {
			return err
		}
		if !handled {
			bad = true
			replies = append(replies, "? "+cmd.line)
		}
	}
	if bad {
		replies = append(replies, "", r.e.loc.T(langOr(med.Lang, r.e.loc.Default()), "CommandHelp", nil))
		replies = append(replies, commandHelp...)
	}
	if len(replies) > 0 {
		if err := r.replyToMediator(med, replies); err != nil {
			return err
		}
	}
	if rest == "" || bad {
		return nil // a failed command relays nothing: the mediator fixes and resends
	}
	for _, role := range relayTo {
		p := r.c.PartyByRole(role.Name())
		if p.Email == "" {
			continue
		}
		b, err := r.e.render(r.c, role, templates.Relay, templates.Data{CaseID: r.c.ID, Name: r.e.loc.T(p.Lang, "TheMediator", nil), Text: rest, Attachments: attachmentList(atts)}, atts, false)
		if err != nil {
			return err
		}
		b.fromName = r.e.mediatorName(p.Lang)
		o, err := r.e.queue(r.tx, r.c, role, b)
		if err != nil {
			return err
		}
		r.out = append(r.out, o.ID)
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvRelayed, Role: "mediator", Message: r.message, Out: o.ID}); err != nil {
			return err
		}
	}
	return nil
}

// replyToMediator answers the mediator who wrote, from the case's mediator address.
func (r *run) replyToMediator(med casestore.Mediator, lines []string) error {
	d := withCase(templates.Data{Intro: "StatusIntro", Lines: lines}, r.c)
	if casestore.NormalizeEmail(r.c.Mediator.Email) == casestore.NormalizeEmail(med.Email) {
		return r.notify(threading.Mediator, templates.Notice, d)
	}
	return r.tellMediator(med, d)
}
