package procedure

import (
	"parley/casestore"
)

// purge deletes the personal data of a closed case after the retention
// period: addresses, names, subjects, message bodies, attachments, event
// texts. The case keeps its id, dates, state, outcome, amounts and its event
// chain (which covers text digests, not texts), so statistics and
// `parley case verify` still work. casestore.WarmCase reads ahead the rows
// it touches: a row added here belongs there too.
func (r *run) purge() error {
	c, tx := r.c, r.tx
	if c.Purged {
		return nil
	}
	msgs, err := tx.CaseMessages(c.ID)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := r.purgeMessage(m, ""); err != nil {
			return err
		}
	}
	outs, err := tx.CaseOutbound(c.ID)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if err := r.dropRaw(o.SHA256); err != nil {
			return err
		}
		o.To, o.SHA256, o.LastError, o.Via = "", "", "", ""
		if err := tx.PutOutbound(&o); err != nil {
			return err
		}
	}
	evidence, err := tx.CaseEvidence(c.ID)
	if err != nil {
		return err
	}
	for _, ev := range evidence {
		if err := r.dropRaw(ev.SHA256); err != nil {
			return err
		}
		ev.Name = "" // file names can be personal; type, size and digest stay
		if err := tx.PutEvidence(ev); err != nil {
			return err
		}
	}
	evs, err := tx.Events(c.ID)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Text != "" {
			ev.Text = ""
			if err := tx.PutEvent(ev); err != nil {
				return err
			}
		}
	}
	for _, p := range []*casestore.Party{&c.Consumer, &c.Trader, &c.Mediator} {
		p.Name, p.Email, p.Thread = "", "", nil
	}
	c.Title, c.Intake, c.TraderStaff = "", "", nil
	c.Fields.Problem, c.Fields.OrderRef = "", ""
	if c.Proposal != nil {
		c.Proposal.Text = ""
	}
	c.Purged = true
	if err := tx.SetTimers(c); err != nil {
		return err
	}
	return tx.AppendEvent(c, casestore.Event{Kind: casestore.EvPurged})
}

// purgeMessage deletes a message's content, addresses and dedup key, keeping
// the row (id, times, target, flags) for the record; note replaces its note.
func (r *run) purgeMessage(m casestore.Message, note string) error {
	if m.MessageID != "" {
		if err := r.tx.DeleteDedup(casestore.DedupKey(m.Target.String(), m.MessageID, m.SHA256)); err != nil {
			return err
		}
	}
	if err := r.dropRaw(m.SHA256); err != nil {
		return err
	}
	m.From, m.MailFrom, m.Rcpt, m.RemoteAddr, m.Helo, m.Subject, m.MessageID, m.SHA256 = "", "", "", "", "", "", "", ""
	m.Note = note
	return r.tx.PutMessage(&m)
}

// dropRaw releases one reference to raw content, deleting it when unused.
// Blob files are removed after the commit (a crash in between leaves an
// orphan file, never a row pointing at nothing).
func (r *run) dropRaw(sum string) error {
	if sum == "" {
		return nil
	}
	unused, err := r.tx.RefRaw(sum, -1)
	if err != nil || !unused {
		return err
	}
	if r.tx.RawInline(sum) != nil {
		return r.tx.DeleteRawInline(sum)
	}
	r.removeBlobs = append(r.removeBlobs, sum)
	return nil
}

// SweepCaseless deletes the content and addresses of messages that belong to
// no case (automatic mail to a complaint address, postmaster mail, bounces of
// deleted rows) once they are older than the retention period; a case's own
// messages go with the case's purge.
func (e *Engine) SweepCaseless() (int, error) {
	cutoff := e.now().Add(-e.cfg.Procedure.Retention.From(e.now()).Sub(e.now()))
	// Machine translations hold what parties wrote: they go with the same period.
	if err := e.store.Update(func(tx *casestore.Tx) error { _, err := tx.SweepTranslations(cutoff, 10000); return err }); err != nil {
		return 0, err
	}
	var msgs []casestore.Message
	if err := e.store.View(func(tx *casestore.Tx) (err error) { msgs, err = tx.CaselessMessages(cutoff, 1000); return err }); err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	r := &run{e: e}
	err := e.store.Update(func(tx *casestore.Tx) error {
		r.tx, r.removeBlobs = tx, nil
		for _, m := range msgs {
			if err := r.purgeMessage(m, "content deleted after the retention period"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	e.afterCommit(r)
	return len(msgs), nil
}
