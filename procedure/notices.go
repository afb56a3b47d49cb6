package procedure

import (
	"strings"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/locales"
	"parley/route"
	"parley/templates"
)

// notify renders template name for role in that party's language and queues
// it as a notice of the service (From the service's name, Auto-Submitted).
func (r *run) notify(role route.Role, name string, d templates.Data) error {
	p := r.c.PartyByRole(role)
	if p == nil || p.Email == "" {
		return nil // no such party (yet): a mediator not yet assigned
	}
	d.CaseID, d.Title = r.c.ID, r.c.Title
	if d.Trader == "" {
		d.Trader = r.c.Trader.Name
	}
	b, err := r.e.render(r.c, role, name, d, nil, true)
	if err != nil {
		return err
	}
	sent, err := r.e.queue(r.tx, r.c, role, b)
	if err != nil {
		return err
	}
	r.out = append(r.out, sent...)
	return nil
}

// notifyAll sends the notice built by data to consumer, trader and mediator,
// each in their language (data may differ per reader).
func (r *run) notifyAll(name string, data func(role route.Role, lang string) templates.Data) error {
	for _, role := range route.Roles {
		if !r.knows(role) {
			continue
		}
		if err := r.notify(role, name, data(role, r.c.PartyByRole(role).Lang)); err != nil {
			return err
		}
	}
	return nil
}

// serviceName is the From display name of Parley's own notices in a case.
func (e *Engine) serviceName(caseID string) string {
	name := e.cfg.Procedure.ServiceName
	if name == "" {
		name = "Parley"
	}
	if caseID == "" {
		return name
	}
	return name + " [" + caseID + "]"
}

// at is a moment to show a reader: each reader sees it in their language's
// layout and the operator's time zone (locales.Time).
func at(t time.Time) locales.Time { return locales.Time{At: t} }

// onDay is a day to show a reader, without the time of day.
func onDay(t time.Time) locales.Time { return locales.Time{At: t, Day: true} }

// money is an amount to show a reader in their notation.
func money(cents int64, currency string) locales.Money {
	return locales.Money{Cents: cents, Currency: currency}
}

// canonical is an amount as the record and the log write it: "300.00 EUR".
func canonical(cents int64, currency string) string {
	return config.Amount(cents).String() + " " + currency
}

// fieldLines prints the complaint's known fields for the trader and the
// mediator; a field nobody gave is left out, never shown as "no".
func (e *Engine) fieldLines(c *casestore.Case, lang string) []string {
	return e.fieldLinesAs(c, lang, false)
}

// fieldLinesAs labels the fields as the fill-in form does (form: what the
// consumer writes, "What I want") or as others read them ("What the consumer
// wants").
func (e *Engine) fieldLinesAs(c *casestore.Case, lang string, form bool) []string {
	first := func(id string) string { l, _, _ := strings.Cut(e.loc.T(lang, id, nil), "|"); return l }
	wantsLabel, complainedLabel := "LabelWantsShown", "LabelComplainedOnShown"
	if form {
		wantsLabel, complainedLabel = "LabelWants", "LabelComplainedOn"
	}
	f := c.Fields
	var lines []string
	add := func(id, v string) {
		if v != "" {
			lines = append(lines, first(id)+": "+v)
		}
	}
	add("LabelOrderDate", e.dayShown(f.OrderDate, lang))
	add("LabelOrderRef", f.OrderRef)
	if f.Amount > 0 {
		add("LabelAmount", e.loc.FormatMoney(lang, f.Amount, f.Currency))
	}
	add(wantsLabel, e.wantsShown(f.Wants, lang))
	add(complainedLabel, e.dayShown(f.ComplainedOn, lang))
	switch f.Contacted {
	case "yes":
		add("LabelContacted", e.loc.T(lang, "WordYesShown", nil))
	case "no":
		add("LabelContacted", e.loc.T(lang, "WordNoShown", nil))
	}
	return lines
}

// understood is what Parley read in a complaint, as labelled lines the
// consumer can send back corrected: the shop, then the fields.
func (e *Engine) understood(c *casestore.Case, lang string) []string {
	label, _, _ := strings.Cut(e.loc.T(lang, "LabelTrader", nil), "|")
	shop := c.Trader.Name
	if shop == "" {
		shop = c.Trader.Email
	}
	// The fill-in form's own labels, so a line sent back is read again.
	return append([]string{label + ": " + shop}, e.fieldLinesAs(c, lang, true)...)
}

// dayShown is a stored day (YYYY-MM-DD) as a reader of lang reads it.
func (e *Engine) dayShown(iso, lang string) string {
	t, err := time.Parse("2006-01-02", iso)
	if err != nil {
		return iso
	}
	return e.loc.FormatTime(lang, t.Add(12*time.Hour), true)
}

// wantsShown is the consumer's wish in lang: refund, repair, replacement,
// or their own words.
func (e *Engine) wantsShown(w, lang string) string {
	if other, ok := strings.CutPrefix(w, "other: "); ok {
		return e.loc.T(lang, "Want_other", nil) + ": " + other
	}
	if w == "" {
		return ""
	}
	return e.loc.T(lang, "Want_"+w, nil)
}

// statusLines describes the case for a mediator (#status), in lang. Only
// deadlines still ahead are listed, each with what happens then.
func (e *Engine) statusLines(c *casestore.Case, lang string) []string {
	t := func(id string, d any) string { return e.loc.T(lang, id, d) }
	yesNo := func(b bool) string {
		if b {
			return t("WordYesShown", nil)
		}
		return t("WordNoShown", nil)
	}
	lines := []string{
		t("StatusState", nil) + ": " + t("State_"+c.State, nil),
		t("StatusConsumer", nil) + ": " + e.partyName(c, route.Consumer, lang),
		t("StatusTrader", nil) + ": " + c.Trader.Name,
	}
	if c.Outcome != "" {
		lines = append(lines, t("StatusOutcome", nil)+": "+t("Outcome_"+c.Outcome, nil))
	}
	if c.Mediator.Email != "" {
		lines = append(lines, t("StatusMediator", nil)+": "+c.Mediator.Name)
	}
	if c.State == mediate {
		lines = append(lines, t("StatusTraderAnswered", nil)+": "+yesNo(c.TraderAnswered), t("StatusExtended", nil)+": "+yesNo(c.MediationExtended))
	}
	if p := c.Proposal; p != nil {
		answer := func(a string) string {
			if a == "" {
				a = "pending"
			}
			return t("Answer_"+a, nil)
		}
		lines = append(lines, t("StatusProposal", templates.Data{Answer: answer(p.Consumer), Outcome: answer(p.Trader)}))
	}
	lines = append(lines, e.fieldLines(c, lang)...)
	if c.Open() && e.cfg.Procedure.Referral() && c.Fields.Amount == 0 {
		lines = append(lines, t("StatusMissing", nil)+": "+strings.SplitN(t("LabelAmount", nil), "|", 2)[0])
	}
	now := e.now()
	var ahead []string
	for _, tm := range c.Timers { // in due order
		if tm.Due.After(now) {
			ahead = append(ahead, "  "+e.loc.FormatTime(lang, tm.Due, false)+"  "+t("Clock_"+tm.Kind, nil))
		}
	}
	if len(ahead) > 0 {
		lines = append(lines, t("StatusDeadlines", nil)+":")
		lines = append(lines, ahead...)
	}
	return lines
}

// partyName is how a party is named to a reader in lang.
func (e *Engine) partyName(c *casestore.Case, role route.Role, lang string) string {
	switch role {
	case route.Trader:
		return c.Trader.Name
	case route.Mediator:
		return e.loc.T(lang, "TheMediator", nil)
	}
	if c.Consumer.Name != "" {
		return c.Consumer.Name
	}
	return e.loc.T(lang, "TheConsumer", nil)
}

// keyword is the first (shown) keyword of id in lang.
func (e *Engine) keyword(lang, id string) string {
	k, _, _ := strings.Cut(e.loc.T(lang, id, nil), "|")
	return k
}

func (e *Engine) choiceAddress(caseID string, choice route.Choice) string {
	return e.keys.ChoiceLocal(caseID, choice) + "@" + e.domain
}

func (e *Engine) partyAddress(caseID string, role route.Role) string {
	return e.keys.PartyLocal(caseID, role) + "@" + e.domain
}

func langOr(lang, def string) string {
	if lang == "" {
		return def
	}
	return lang
}

// relayed records that the message being handled, written by role, went to
// the outbound rows sent: in the case's log, and on the message for the
// mediators' mailbox.
func (r *run) relayed(role route.Role, sent []uint64) error {
	for _, id := range sent {
		if err := r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvRelayed, Role: role, Message: r.message, Out: id}); err != nil {
			return err
		}
		o, err := r.tx.Outbound(id)
		if err != nil {
			return err
		}
		r.relayedTo = append(r.relayedTo, casestore.Relay{Role: o.Role, Out: id, At: o.Created})
	}
	return nil
}
