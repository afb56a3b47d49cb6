package procedure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"parley/casefile"
	"parley/casestore"
	"parley/evidence"
	"parley/route"
	"parley/templates"
)

// A referral to arbitration: the body named in [procedure] gets a cover
// letter in its language with the case file attached, the `parley case
// export` zip that `parley case verify-export` checks; the case's record
// keeps the zip's SHA-256, so the file stays verifiable against the record
// after the personal data is deleted.

// caseFile is the exported zip, made outside the transaction that sends it.
type caseFile struct {
	data []byte
	sum  string
}

// prepareReferral exports the case file of a case about to be referred.
func (e *Engine) prepareReferral(id string) (*caseFile, error) {
	if e.translator != nil {
		// The complaint in the body's language, for the cover letter.
		var c *casestore.Case
		if err := e.store.View(func(tx *casestore.Tx) (err error) { c, err = tx.Case(id); return err }); err == nil && c.Fields.Problem != "" {
			lang := e.cfg.Procedure.ArbitrationLang
			if !e.loc.Supported(lang) {
				lang = e.loc.Default()
			}
			if from := e.textLang(c.Fields.Problem, c.Consumer.Lang); from != lang {
				e.translateText(context.Background(), c.Fields.Problem, from, lang)
			}
		}
	}
	var buf bytes.Buffer
	if err := (casefile.Source{Store: e.store, Locales: e.loc}).Export(id, &buf); err != nil {
		return nil, fmt.Errorf("export case file of %s: %w", id, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &caseFile{data: buf.Bytes(), sum: hex.EncodeToString(sum[:])}, nil
}

// coverReasons maps the trigger that closed a case as referred to the
// sentence saying why.
var coverReasons = map[string]string{
	cReplyDue.name():     "CoverSilence",
	cMediationEnd.name(): "CoverNoAgreement",
	refer{}.name():       "CoverReferred",
}

// sendReferral mails the arbitration body the cover letter and case file.
func (r *run) sendReferral() error {
	cf, ok := r.prepared.(*caseFile)
	if !ok {
		return fmt.Errorf("referral of %s: case file not prepared", r.c.ID)
	}
	if r.c.Outcome != casestore.OutcomeReferred || r.c.Purged {
		return nil
	}
	p := r.e.cfg.Procedure
	lang := p.ArbitrationLang
	if !r.e.loc.Supported(lang) {
		lang = r.e.loc.Default()
	}
	why, err := r.referralReason()
	if err != nil {
		return err
	}
	name := "case-" + r.c.ID + ".zip"
	d := templates.Data{CaseID: r.c.ID, Title: r.c.Title, Intro: why, Service: r.e.serviceName(""), Body: p.ArbitrationBody, URL: p.ArbitrationURL,
		Fee: money(int64(p.ArbitrationFee), p.Currency), File: name, Size: templates.Size(int64(len(cf.data))), Hash: cf.sum, Lines: r.coverLines(lang)}
	var atts []evidence.Attachment
	if int64(len(cf.data)) <= int64(r.e.cfg.Evidence.MaxRelaySize) {
		atts = []evidence.Attachment{{Name: name, Declared: "application/zip", Data: cf.data, SHA256: cf.sum}}
		d.Attachments = []templates.Attachment{{Name: name, Size: int64(len(cf.data)), SHA256: cf.sum}}
	}
	text, err := r.e.tmpl.Render(templates.Referral, lang, d)
	if err != nil {
		return err
	}
	ent, err := renderBody(text, atts)
	if err != nil {
		return fmt.Errorf("build referral of %s: %w", r.c.ID, err)
	}
	b := body{entity: ent, lang: lang, kind: templates.Referral, auto: true, fromName: r.e.serviceName(r.c.ID),
		subject: r.e.loc.T(lang, "CoverSubject", templates.Data{CaseID: r.c.ID, Trader: r.c.Trader.Name})}
	to := &casestore.Party{Email: p.ArbitrationAddress, Name: p.ArbitrationBody}
	o, err := r.e.queueTo(r.tx, r.c, to, r.e.partyAddress(r.c.ID, route.Mediator), b)
	if err != nil {
		return err
	}
	r.out = append(r.out, o.ID)
	return r.tx.AppendEvent(r.c, casestore.Event{Kind: casestore.EvReferral, Out: o.ID, Digest: cf.sum,
		Text: fmt.Sprintf("case file %s (%d bytes, SHA-256 %s) sent to %s <%s>", name, len(cf.data), cf.sum, p.ArbitrationBody, p.ArbitrationAddress)})
}

// referralReason finds what closed the case as referred, from its log.
func (r *run) referralReason() (string, error) {
	evs, err := r.tx.Events(r.c.ID)
	if err != nil {
		return "", err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		if ev.Kind != casestore.EvStateChange || !strings.HasSuffix(ev.Text, "-> "+closed) {
			continue
		}
		trig, _, _ := strings.Cut(ev.Text, ":")
		if id, ok := coverReasons[trig]; ok {
			return id, nil
		}
		break
	}
	return "CoverReferred", nil
}

// coverLines are the facts of the case for the body, in lang. The body
// needs the parties' real addresses to reach them.
func (r *run) coverLines(lang string) []string {
	t := func(id string) string { l, _, _ := strings.Cut(r.e.loc.T(lang, id, nil), "|"); return l }
	who := func(p casestore.Party) string {
		if p.Name == "" {
			return p.Email
		}
		return p.Name + " <" + p.Email + ">"
	}
	lines := []string{
		t("CoverCase") + ": " + r.c.ID + " (" + r.c.Title + ")",
		t("StatusConsumer") + ": " + who(r.c.Consumer),
		t("StatusTrader") + ": " + who(r.c.Trader),
		t("CoverOpened") + ": " + r.e.loc.FormatTime(lang, r.c.Created, false),
	}
	if !r.c.Completed.IsZero() {
		lines = append(lines, t("CoverCompleted")+": "+r.e.loc.FormatTime(lang, r.c.Completed, false))
	}
	if r.c.Mediator.Email != "" {
		lines = append(lines, t("StatusMediator")+": "+who(r.c.Mediator))
	}
	lines = append(lines, t("StatusOutcome")+": "+r.e.loc.T(lang, "Outcome_"+r.c.Outcome, nil))
	if r.c.MediationExtended {
		lines = append(lines, t("CoverExtended"))
	}
	lines = append(lines, r.e.fieldLines(r.c, lang)...)
	if p := r.c.Proposal; p != nil && p.Text != "" {
		answer := func(a string) string {
			if a == "" {
				a = "pending"
			}
			return r.e.loc.T(lang, "Answer_"+a, nil)
		}
		lines = append(lines, "", r.e.loc.T(lang, "CoverProposal", templates.Data{Date: onDay(p.Created), Answer: answer(p.Consumer), Outcome: answer(p.Trader)})+":", p.Text)
	}
	if f := r.c.Fields.Problem; f != "" {
		lines = append(lines, "", t("LabelProblem")+":")
		// In the body's language first when it differs (translated before
		// the transaction, in prepareReferral), then as the consumer wrote it.
		d := r.e.cachedTranslation(r.tx, templates.Data{}, f, r.c.Consumer.Lang, lang)
		switch {
		case d.Translation != "":
			lines = append(lines, r.e.loc.T(lang, "MachineTranslation", d), d.Translation, "")
		case d.TranslationFailed:
			lines = append(lines, r.e.loc.T(lang, "TranslationUnavailable", d))
		}
		lines = append(lines, f)
	}
	return lines
}
