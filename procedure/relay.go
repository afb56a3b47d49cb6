package procedure

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"parley/casestore"
	"parley/templates"
	"parley/threading"
)

func (e *Engine) partyMail(ctx context.Context, in *inbound) error {
	f := strings.Split(in.msg.Target, ":")
	if len(f) != 3 {
		return errPermanent{fmt.Errorf("bad target %q", in.msg.Target)}
	}
	return e.caseMail(ctx, in, f[1], threading.Role(f[2]))
}

// caseMail handles mail from a party (or someone claiming to be one) to the
// party's case address.
func (e *Engine) caseMail(ctx context.Context, in *inbound, caseID string, role threading.Role) error {
	pm, msg := in.parsed, in.msg
	var c *casestore.Case
	if err := e.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(caseID); return err }); err != nil {
		return errPermanent{err}
	}
	msg.CaseID, msg.Role = c.ID, role.Name()
	party := c.PartyByRole(role.Name())
	if party == nil {
		return errPermanent{fmt.Errorf("case %s has no %s", c.ID, role.Name())}
	}

	// Sender binding: only the party's own address speaks for the party.
	if msg.From != casestore.NormalizeEmail(party.Email) {
		return e.quarantine(in, c, role, party)
	}
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply (" + in.auto + "): kept, not relayed"
		return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
			cc, err := tx.Case(caseID)
			if err != nil {
				return nil, err
			}
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvAutoReply, Role: role.Name(), Message: msg.ID, Text: in.auto}); err != nil {
				return nil, err
			}
			return nil, tx.PutCase(cc)
		})
	}

	text := threading.StripQuoted(pm.Text)
	var bodies map[threading.Role]body
	var completed *casestore.Party
	var err error
	switch {
	case c.State == casestore.StateIncomplete && role == threading.Consumer:
		bodies, completed, err = e.completeIntake(c, in, text)
	case c.State == casestore.StateIncomplete:
		bodies = nil // nobody to relay to yet
	default:
		other := threading.Trader
		if role == threading.Trader {
			other = threading.Consumer
		}
		reader := c.PartyByRole(other.Name())
		writer := party.Name
		if role == threading.Consumer && writer == "" {
			writer = e.loc.T(reader.Lang, "TheConsumer", nil)
		}
		var b body
		b, err = e.render(c, other, templates.Relay, templates.Data{
			CaseID: c.ID, Name: writer, Text: text, Attachments: attachmentList(pm.Attachments),
		}, pm.Attachments, false)
		bodies = map[threading.Role]body{other: b}
	}
	if err != nil {
		return err
	}

	err = e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(caseID)
		if err != nil {
			return nil, err
		}
		// Rendering above used c; if the case moved on meanwhile, redo it.
		if cc.State != c.State || cc.PartyByRole(role.Name()).Email != party.Email || cc.Trader.Email != c.Trader.Email {
			return nil, errStale
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvMailIn, Role: role.Name(), Message: msg.ID}); err != nil {
			return nil, err
		}
		if completed != nil && cc.State == casestore.StateIncomplete {
			cc.Trader, cc.State, cc.Deadline = *completed, casestore.StateOpen, c.Deadline
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvStateChange, Role: role.Name(), Message: msg.ID, Text: casestore.StateOpen}); err != nil {
				return nil, err
			}
		}
		ids, err := e.queueAll(tx, cc, bodies)
		if err != nil {
			return nil, err
		}
		if len(ids) > 0 && completed == nil {
			if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvRelayed, Role: role.Name(), Message: msg.ID, Out: ids[0]}); err != nil {
				return nil, err
			}
		}
		return ids, tx.PutCase(cc)
	})
	in.step.barrier = completed != nil
	return err
}

// completeIntake handles the consumer's answer to "which shop?": with a trader
// line the case opens and the trader gets the whole complaint; without one the
// consumer is asked again.
func (e *Engine) completeIntake(c *casestore.Case, in *inbound, text string) (map[threading.Role]body, *casestore.Party, error) {
	email, name, ok := e.traderLine(in.parsed.Text)
	if !ok || casestore.NormalizeEmail(email) == casestore.NormalizeEmail(c.Consumer.Email) {
		b, err := e.notice(c, threading.Consumer, templates.NeedTrader, templates.Data{CaseID: c.ID})
		return map[threading.Role]body{threading.Consumer: b}, nil, err
	}
	var trader casestore.Party
	var earlier []string
	err := e.store.View(func(tx *casestore.Tx) error {
		trader = e.resolveTrader(tx, email, name)
		msgs, err := tx.CaseMessages(c.ID)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.ID == in.msg.ID || m.Role != "consumer" || m.HasFlag(casestore.FlagQuarantined) || m.HasFlag(casestore.FlagAutoReply) {
				continue
			}
			raw, err := e.store.Raw(m.SHA256)
			if err != nil {
				return err
			}
			if t := strings.TrimSpace(threading.StripQuoted(e.parser.Parse(raw).Text)); t != "" {
				earlier = append(earlier, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	opened := *c
	opened.Trader = trader
	opened.Deadline = e.now().Add(e.cfg.TraderWindow)
	c.Deadline = opened.Deadline
	complaint := strings.Join(append(earlier, text), "\n\n")
	bodies, err := e.openingBodies(&opened, complaint, in.parsed.Attachments)
	return bodies, &trader, err
}

// quarantine keeps a message whose sender is not the party it wrote as, and
// tells the sender why (unless it is automatic mail or has no return path, so
// that forged senders do not turn Parley into a source of backscatter loops).
func (e *Engine) quarantine(in *inbound, c *casestore.Case, role threading.Role, party *casestore.Party) error {
	msg := in.msg
	msg.Flags = appendFlag(msg.Flags, casestore.FlagQuarantined)
	msg.Note = fmt.Sprintf("sender %s is not the %s of case %s", msg.From, role.Name(), c.ID)
	var b *body
	if in.auto == "" && msg.MailFrom != "" {
		lang := e.partyLang(in.parsed, party.Lang)
		text, err := e.tmpl.Render(templates.Quarantine, lang, templates.Data{CaseID: c.ID, From: msg.From})
		if err != nil {
			return err
		}
		ent, err := renderBody(text, nil)
		if err != nil {
			return err
		}
		b = &body{entity: ent, lang: lang, kind: templates.Quarantine, auto: true, fromName: "Parley"}
	}
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		cc, err := tx.Case(c.ID)
		if err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvQuarantine, Role: role.Name(), Message: msg.ID, Text: msg.Note}); err != nil {
			return nil, err
		}
		var ids []uint64
		if b != nil {
			stranger := &casestore.Party{Email: msg.MailFrom}
			own := e.keys.PartyLocal(cc.ID, role) + "@" + e.domain
			o, err := e.queueTo(tx, cc, stranger, own, *b)
			if err != nil {
				return nil, err
			}
			ids = append(ids, o.ID)
		}
		return ids, tx.PutCase(cc)
	})
}

// bounce records a delivery failure reported to a VERP address.
func (e *Engine) bounce(in *inbound) error {
	n, err := strconv.ParseUint(strings.TrimPrefix(in.msg.Target, "bounce:"), 10, 64)
	if err != nil {
		return errPermanent{fmt.Errorf("bad bounce target %q", in.msg.Target)}
	}
	in.msg.Flags = appendFlag(in.msg.Flags, casestore.FlagBounce)
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		o, err := tx.Outbound(n)
		if err != nil {
			return nil, nil // the row was deleted with its case: keep the bounce only
		}
		o.State, o.LastError = casestore.OutFailed, "bounced: "+in.parsed.Subject
		o.Done = e.now()
		if err := tx.PutOutbound(o); err != nil {
			return nil, err
		}
		if o.CaseID == "" {
			return nil, nil
		}
		in.msg.CaseID = o.CaseID
		cc, err := tx.Case(o.CaseID)
		if err != nil {
			return nil, nil
		}
		if err := tx.AppendEvent(cc, casestore.Event{Kind: casestore.EvBounce, Role: o.Role, Message: in.msg.ID, Out: o.ID, Text: o.LastError}); err != nil {
			return nil, err
		}
		return nil, tx.PutCase(cc)
	})
}
