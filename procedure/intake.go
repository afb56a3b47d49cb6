package procedure

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"parley/casestore"
	"parley/evidence"
	"parley/templates"
	"parley/threading"
)

var emailRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)

// traderLine finds "Trader: name <addr>" (labels in every supported language)
// and returns the address and the name written with it.
func (e *Engine) traderLine(text string) (email, name string, ok bool) {
	labels := e.loc.Labels("LabelTrader")
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = regexp.QuoteMeta(l)
	}
	re, err := regexp.Compile(`(?im)^[ \t>*]*(?:` + strings.Join(quoted, "|") + `)[ \t*]*:[ \t]*(.+)$`)
	if err != nil {
		return "", "", false
	}
	for _, m := range re.FindAllStringSubmatch(text, 5) {
		value := strings.TrimSpace(m[1])
		if a, err := mail.ParseAddress(value); err == nil {
			return strings.ToLower(a.Address), a.Name, true
		}
		if addr := emailRe.FindString(value); addr != "" {
			name := strings.TrimSpace(strings.Replace(value, addr, "", 1))
			name = strings.Trim(name, " <>()[],;-")
			return strings.ToLower(addr), name, true
		}
	}
	return "", "", false
}

// resolveTrader returns the trader party for an address: the registered trader
// if there is one, else an unregistered trader in the default language.
func (e *Engine) resolveTrader(tx *casestore.Tx, email, name string) casestore.Party {
	if tr, err := tx.TraderByEmail(email); err == nil {
		return casestore.Party{Role: "trader", Name: tr.Name, Email: tr.Email, Lang: tr.Lang, Handle: tr.Handle}
	}
	if name == "" {
		_, name, _ = strings.Cut(email, "@")
	}
	return casestore.Party{Role: "trader", Name: name, Email: email, Lang: e.loc.Default()}
}

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
			match = err == nil && casestore.NormalizeEmail(c.Consumer.Email) == msg.From
			return nil
		})
		if match {
			return e.caseMail(ctx, in, id, threading.Consumer)
		}
	}

	consumer := casestore.Party{Role: "consumer", Name: threading.SanitizeHeader(pm.FromName), Email: msg.From, Lang: e.partyLang(pm, "")}
	var trader casestore.Party
	var haveTrader bool
	handle := strings.TrimPrefix(msg.Target, "intake:")
	err := e.store.View(func(tx *casestore.Tx) error {
		if msg.Target != TargetComplaints {
			tr, err := tx.Trader(handle)
			if err != nil {
				return errPermanent{fmt.Errorf("trader %q is no longer registered", handle)}
			}
			trader, haveTrader = casestore.Party{Role: "trader", Name: tr.Name, Email: tr.Email, Lang: tr.Lang, Handle: tr.Handle}, true
			return nil
		}
		if email, name, ok := e.traderLine(pm.Text); ok {
			trader, haveTrader = e.resolveTrader(tx, email, name), true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if haveTrader && casestore.NormalizeEmail(trader.Email) == consumer.Email {
		haveTrader = false // a shop cannot complain about itself; ask again
	}

	now := e.now()
	c := &casestore.Case{
		ID: threading.NewCaseID(), Created: now, Intake: msg.Rcpt, Consumer: consumer,
		Title: threading.BaseSubject(threading.SanitizeHeader(pm.Subject)),
	}
	if haveTrader {
		c.Trader = trader
	}
	if c.Title == "" {
		name := trader.Name
		if name == "" {
			name = "?"
		}
		c.Title = e.loc.T(consumer.Lang, "DefaultTitle", map[string]string{"Trader": name})
	}
	if len(c.Title) > 200 {
		c.Title = c.Title[:200]
	}

	var bodies map[threading.Role]body
	if haveTrader {
		c.State, c.Deadline = casestore.StateOpen, now.Add(e.cfg.TraderWindow)
		bodies, err = e.openingBodies(c, pm.Text, pm.Attachments)
	} else {
		c.State, c.Deadline = casestore.StateIncomplete, now.Add(e.cfg.IncompleteIntake)
		var b body
		b, err = e.notice(c, threading.Consumer, templates.NeedTrader, templates.Data{CaseID: c.ID})
		bodies = map[threading.Role]body{threading.Consumer: b}
	}
	if err != nil {
		return err
	}

	return e.finish(in, func(tx *casestore.Tx) ([]uint64, error) {
		if tx.CaseExists(c.ID) {
			return nil, errors.New("case id collision, retrying")
		}
		cc := *c // the transaction may run again: start from the same case each time
		msg.CaseID, msg.Role = cc.ID, "consumer"
		if err := tx.AppendEvent(&cc, casestore.Event{Kind: casestore.EvCaseOpened, Role: "consumer", Message: msg.ID, Text: cc.State}); err != nil {
			return nil, err
		}
		if err := tx.AppendEvent(&cc, casestore.Event{Kind: casestore.EvMailIn, Role: "consumer", Message: msg.ID}); err != nil {
			return nil, err
		}
		ids, err := e.queueAll(tx, &cc, bodies)
		if err != nil {
			return nil, err
		}
		return ids, tx.PutCase(&cc)
	})
}

// openingBodies renders the consumer's confirmation and the trader's notice.
func (e *Engine) openingBodies(c *casestore.Case, complaint string, atts []evidence.Attachment) (map[threading.Role]body, error) {
	data := templates.Data{CaseID: c.ID, Trader: c.Trader.Name, Deadline: formatDeadline(c.Deadline)}
	confirm, err := e.notice(c, threading.Consumer, templates.Confirm, data)
	if err != nil {
		return nil, err
	}
	data.Text = strings.TrimSpace(complaint)
	data.Attachments = attachmentList(atts)
	tn, err := e.render(c, threading.Trader, templates.TraderNote, data, atts, true)
	if err != nil {
		return nil, err
	}
	return map[threading.Role]body{threading.Consumer: confirm, threading.Trader: tn}, nil
}

// notice renders a system notice without attachments.
func (e *Engine) notice(c *casestore.Case, to threading.Role, name string, data templates.Data) (body, error) {
	return e.render(c, to, name, data, nil, true)
}

// render builds the body of template name for party to, in that party's language.
func (e *Engine) render(c *casestore.Case, to threading.Role, name string, data templates.Data, atts []evidence.Attachment, auto bool) (body, error) {
	p := c.PartyByRole(to.Name())
	lang := p.Lang
	text, err := e.tmpl.Render(name, lang, data)
	if err != nil {
		return body{}, err
	}
	ent, err := renderBody(text, atts)
	if err != nil {
		return body{}, fmt.Errorf("build %s: %w", name, err)
	}
	return body{entity: ent, lang: lang, kind: name, auto: auto, fromName: e.otherName(c, to, lang)}, nil
}

// otherName is the display name of the party a reader corresponds with:
// "Acme Shop via Parley" for the consumer, "Jan Jansen via Parley" for the trader.
func (e *Engine) otherName(c *casestore.Case, reader threading.Role, lang string) string {
	var name string
	switch reader {
	case threading.Consumer:
		name = c.Trader.Name
		if name == "" {
			name = "Parley"
			return name
		}
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
func (e *Engine) queueAll(tx *casestore.Tx, c *casestore.Case, bodies map[threading.Role]body) ([]uint64, error) {
	var ids []uint64
	for _, role := range []threading.Role{threading.Consumer, threading.Trader, threading.Mediator} {
		b, ok := bodies[role]
		if !ok {
			continue
		}
		o, err := e.queue(tx, c, role, b)
		if err != nil {
			return nil, err
		}
		ids = append(ids, o.ID)
	}
	return ids, nil
}
