package procedure

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"parley/casestore"
	"parley/evidence"
	"parley/locales"
	"parley/route"
	"parley/templates"
	"parley/threading"
)

func (e *Engine) intake(ctx context.Context, in *inbound) error {
	pm, msg := in.parsed, in.msg
	if in.auto != "" {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagAutoReply)
		msg.Note = "automatic reply (" + in.auto + "): not answered"
		return e.finish(in, nil)
	}
	// A consumer who writes to the complaint address again about an existing
	// case (subject tag) reaches that case instead of opening a new one.
	if id, ok := threading.CaseFromSubject(pm.Subject); ok {
		var match bool
		e.store.View(func(tx *casestore.Tx) error {
			c, err := tx.Case(id)
			match = err == nil && casestore.NormalizeEmail(c.Consumer.Email) == casestore.NormalizeEmail(msg.From)
			return nil
		})
		if match {
			return e.caseMail(ctx, in, id, route.Consumer)
		}
	}

	if msg.From == "" {
		// Nobody to answer (no usable From or return path): kept, not a case.
		msg.Note = "no usable sender address: kept, no case opened"
		return e.finish(in, nil)
	}
	// The consumer's language: the one the complaint address chose, else
	// Content-Language, else the text's, else the default. A language Parley
	// does not speak gets English, with a line in theirs saying so.
	detected := sync.OnceValue(func() string { return e.loc.Detect(pm.Text) })
	lang := e.partyLangDetected(pm, "", detected)
	if l := msg.Target.Lang; l != "" && e.loc.Supported(l) {
		lang = l
	}
	consumer := casestore.Party{Role: route.Consumer, Name: threading.SanitizeHeader(pm.FromName), Email: msg.From, Lang: lang}
	if msg.Target.Lang == "" && pm.ContentLanguage == "" && locales.Unsupported[detected()] != "" {
		consumer.Writes = detected()
	}
	if pm.MessageID != "" {
		// The confirmation answers the complaint in the consumer's own client.
		consumer.Thread = appendThread(nil, pm.MessageID)
	}
	traderValue, fields, unclear := e.reader.read(pm.Text, consumer.Lang)
	var trader casestore.Party
	handle := msg.Target.Handle
	err := e.store.View(func(tx *casestore.Tx) error {
		if handle != "" {
			tr, err := tx.Trader(handle)
			if err != nil {
				return errPermanent{fmt.Errorf("trader %q is no longer registered", handle)}
			}
			trader = casestore.Party{Role: route.Trader, Name: tr.Name, Email: tr.Email, Lang: tr.Lang, Handle: tr.Handle}
			return nil
		}
		trader = e.traderFrom(tx, traderValue, pm.Text, consumer.Email, consumer.Lang)
		return nil
	})
	if err != nil {
		return err
	}

	// The complaint in the trader's language, made before the transaction.
	var tr translated
	if trader.Email != "" && fields.Problem != "" && fields.Wants != "" {
		tr = e.translateFor(ctx, &casestore.Case{Trader: trader}, e.reader.dropUnfilled(pm.Text), consumer.Lang, []route.Role{route.Trader})
		e.translateForMediators(ctx, fields.Problem, consumer.Lang)
	}
	now := e.now()
	c := &casestore.Case{
		ID: threading.NewCaseID(), Created: now, Intake: msg.Rcpt, Consumer: consumer, Trader: trader,
		State: casestore.StateIntake, Fields: fields,
		Title: clip(threading.BaseSubject(threading.SanitizeHeader(pm.Subject)), 200),
	}
	if c.Title == "" {
		name := trader.Name
		if name == "" {
			name = "?"
		}
		c.Title = e.loc.T(consumer.Lang, "DefaultTitle", map[string]string{"Trader": name})
	}
	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		if tx.CaseExists(c.ID) {
			return nil, errors.New("case id collision, retrying")
		}
		cc := *c // the transaction may run again: start from the same case each time
		msg.CaseID, msg.Role = cc.ID, route.Consumer
		if err := tx.AppendEvent(&cc, casestore.Event{Kind: casestore.EvCaseOpened, Role: route.Consumer, Message: msg.ID}); err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(&cc, casestore.Event{Kind: casestore.EvMailIn, Role: route.Consumer, Message: msg.ID}); err != nil {
			return nil, err
		}
		r := e.newRun(tx, &cc)
		r.by, r.message = route.Consumer, msg.ID
		if err := r.completeOrAsk(pm.Text, pm.Attachments, unclear, tr); err != nil {
			return nil, err
		}
		return r.out, tx.PutCase(&cc)
	})
}

// completeOrAsk opens a complete intake (the trader gets the complaint) or
// asks the consumer for what is missing.
func (r *run) completeOrAsk(complaint string, atts []evidence.Attachment, unclear []unclearValue, tr translated) error {
	var t trigger = incomplete{unclear: unclear, again: r.c.State == intake && r.c.Moves > 0}
	if hasRequired(r.c) {
		t = complete{complaint: complaint, atts: atts, unclear: unclear, translated: tr}
	}
	_, err := r.fire(t)
	return err
}

// render builds the body of template name for party to, in that party's language.
// A notice (auto) comes From the service, a relay From the party it relays.
func (e *Engine) render(c *casestore.Case, to route.Role, name string, data templates.Data, atts []evidence.Attachment, auto bool) (body, error) {
	p := c.PartyByRole(to)
	lang := p.Lang
	text, err := e.tmpl.Render(name, lang, data)
	if err != nil {
		return body{}, err
	}
	if note := locales.Unsupported[p.Writes]; note != "" {
		text = note + "\n\n" + text // every mail, in the language they write
	}
	ent, err := renderBody(text, atts)
	if err != nil {
		return body{}, fmt.Errorf("build %s: %w", name, err)
	}
	from := e.serviceName(c.ID)
	if !auto {
		from = e.otherName(c, to, lang)
	}
	return body{entity: ent, lang: lang, kind: name, auto: auto, fromName: from}.withSum(), nil
}

// otherName is the display name of the party a reader corresponds with:
// "Acme Shop via Parley" for the consumer, "Jan Jansen via Parley" for the trader.
func (e *Engine) otherName(c *casestore.Case, reader route.Role, lang string) string {
	var name string
	switch reader {
	case route.Consumer:
		name = c.Trader.Name
		if name == "" {
			return e.serviceName(c.ID)
		}
	case route.Mediator:
		name = c.ID + " " + c.Trader.Name
	default:
		name = c.Consumer.Name
		if name == "" {
			name = e.loc.T(lang, "TheConsumer", nil)
		}
	}
	return e.loc.T(lang, "ViaParley", map[string]string{"Name": name})
}

func attachmentList(atts []evidence.Attachment) []templates.Attachment {
	out := make([]templates.Attachment, len(atts))
	for i, a := range atts {
		out[i] = templates.Attachment{Name: a.Name, Size: a.Size, SHA256: a.SHA256}
	}
	return out
}

// queueAll queues one body per role in a fixed order (consumer first).
func (e *Engine) queueAll(tx *casestore.Tx, c *casestore.Case, bodies map[route.Role]body) ([]uint64, error) {
	var ids []uint64
	for _, role := range route.Roles {
		b, ok := bodies[role]
		if !ok {
			continue
		}
		sent, err := e.queue(tx, c, role, b)
		if err != nil {
			return nil, err
		}
		ids = append(ids, sent...)
	}
	return ids, nil
}
