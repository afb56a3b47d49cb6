package procedure

import (
	"strings"

	"parley/casestore"
	"parley/route"
	"parley/templates"
)

// Intake, the trader's window and the consumer's choice.

// markCompleted records when the complaint became complete: the mediation's
// overall limit counts from it.
func (r *run) markCompleted() error {
	r.c.Completed = r.now
	return nil
}

// notifyOpened tells the consumer the case is open and sends the trader the
// complaint with its attachments, both with the window's end.
func (r *run) notifyOpened() error {
	t, ok := r.trigger.(complete)
	if !ok {
		return nil
	}
	lang := r.c.Consumer.Lang
	d := templates.Data{Deadline: at(r.due(cWindowEnd)), Trader: r.c.Trader.Name,
		Lines: r.e.askLines(lang, t.unclear), Understood: r.e.understood(r.c, lang)}
	if err := r.notify(route.Consumer, templates.Confirm, d); err != nil {
		return err
	}
	d.Lines, d.Understood = nil, nil
	d.Text = r.e.reader.dropUnfilled(t.complaint)
	d = t.translated.data(d, r.e, r.c.Trader.Lang)
	d.Attachments = attachmentList(t.atts)
	d.Lines = r.e.fieldLines(r.c, r.c.Trader.Lang)
	d.CaseID, d.Title = r.c.ID, r.c.Title
	b, err := r.e.render(r.c, route.Trader, templates.TraderNote, d, t.atts, true)
	if err != nil {
		return err
	}
	sent, err := r.e.queue(r.tx, r.c, route.Trader, b)
	if err != nil {
		return err
	}
	r.out = append(r.out, sent...)
	return nil
}

// askMissing sends the fill-in lines for what the complaint lacks, with the
// day the intake closes without them.
func (r *run) askMissing() error {
	t, _ := r.trigger.(incomplete)
	intro := "NeedInfoIntro"
	if t.again {
		intro = "NeedInfoStill" // the form names only what is still missing
	}
	return r.notify(route.Consumer, templates.NeedInfo, templates.Data{Intro: intro,
		Lines: r.e.missing(r.c, r.c.Consumer.Lang, t.unclear), Deadline: at(r.due(cIntakeExpired))})
}

// askUnclear asks the consumer which of its readings a value they wrote
// means; nothing is recorded until they say.
func (r *run) askUnclear(unclear []unclearValue) error {
	if len(unclear) == 0 {
		return nil
	}
	return r.notify(route.Consumer, templates.Notice, templates.Data{Intro: "AskUnclearIntro", Lines: r.e.askLines(r.c.Consumer.Lang, unclear)})
}

func (r *run) explainIntakeExpired() error {
	r.closing = append(r.closing, explanation{id: "IntakeExpired"})
	return nil
}

// traderSilentInWindow: no reminder once the trader wrote in this window, nor
// one that comes due only after the window ended (the daemon was down).
func (r *run) traderSilentInWindow() bool {
	return !r.c.TraderAnswered && r.now.Before(r.due(cWindowEnd))
}

func (r *run) remindTrader() error {
	return r.notify(route.Trader, templates.Reminder, templates.Data{Deadline: at(r.due(cWindowEnd))})
}

// windowRan: the trader had its window, so the trader was contacted first,
// whatever the complaint said about that.
func (r *run) windowRan() error {
	if r.c.Fields.Contacted != "yes" {
		r.c.Fields.Contacted = "yes"
		return r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvFieldSet, Text: "contacted = yes (the trader's window ran)"})
	}
	return nil
}

func (r *run) canExtend() bool { return r.c.Extensions < r.e.cfg.Procedure.MaxExtensions }

func (r *run) countExtension() error {
	r.c.Extensions++
	return nil
}

func (r *run) notifyExtended() error {
	end := at(r.due(cWindowEnd))
	if err := r.notify(route.Consumer, templates.Extended, templates.Data{Intro: "ExtendedConsumer", Deadline: end}); err != nil {
		return err
	}
	return r.notify(route.Trader, templates.Extended, templates.Data{Intro: "ExtendedTrader", Deadline: end})
}

// refuseExtension sends the choices again; the choice's clock runs on.
func (r *run) refuseExtension() error { return r.sendChoices("NoMoreExtensions") }

// refuseMediation: the complaint is too old for mediation; the consumer
// learns why and may correct the date, or choose again.
func (r *run) refuseMediation() error { return r.sendChoices("MediationTooOld") }

// sendChoices sends the consumer a choice address per option open to them,
// the words they may reply with instead, and the deadline of the choice (the
// pending timer's, never a new one).
func (r *run) sendChoices(intro string, choice ...string) error {
	lang := r.c.Consumer.Lang
	type option struct {
		choice         route.Choice
		label, keyword string
	}
	opts := []option{{route.ChoiceResolved, "ChoiceResolved", "KeywordResolved"}}
	if r.admissible() {
		opts = append(opts, option{route.ChoiceMediation, "ChoiceMediation", "KeywordMediation"})
	} else if intro == "" {
		intro = "MediationTooOld"
	}
	if r.canExtend() {
		opts = append(opts, option{route.ChoiceWait, "ChoiceWait", "KeywordWait"})
	}
	opts = append(opts, option{route.ChoiceWithdraw, "ChoiceWithdraw", "KeywordWithdraw"})
	date, days := r.complaintDate()
	d := templates.Data{Intro: intro, Deadline: at(r.due(cChoiceExpired)), Date: onDay(date), Days: days}
	if len(choice) > 0 {
		d.Choice = choice[0]
	}
	var kws []string
	for _, o := range opts {
		d.Choices = append(d.Choices, templates.Option{Label: r.e.loc.T(lang, o.label, nil), Address: r.e.choiceAddress(r.c.ID, o.choice)})
		kws = append(kws, r.e.keyword(lang, o.keyword))
	}
	d.Keywords = strings.Join(kws, ", ")
	return r.notify(route.Consumer, templates.Choice, d)
}
