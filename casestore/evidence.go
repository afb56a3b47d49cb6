package casestore

import (
	"bytes"
	"fmt"
	"time"

	"parley/route"
)

// Evidence is one attachment of one message of a case: what was sent, by
// whom, when, and the SHA-256 of its bytes (kept once in the blob folder).
type Evidence struct {
	Case      string     `json:"case"`
	Seq       uint64     `json:"seq"`
	Message   uint64     `json:"message"`
	Role      route.Role `json:"role"` // the sender's role; "" for a quarantined stranger
	Time      time.Time  `json:"time"`
	Name      string     `json:"name"` // sanitised file name
	Declared  string     `json:"declared_type"`
	Sniffed   string     `json:"sniffed_type"`
	Size      int64      `json:"size"`
	SHA256    string     `json:"sha256"`
	Inline    bool       `json:"inline,omitempty"`
	Forwarded bool       `json:"forwarded"` // passed on to the other party
}

// AddEvidence records an attachment of case c; its blob must already be stored.
func (t *Tx) AddEvidence(c *Case, ev *Evidence) error {
	c.EvidenceCount++
	ev.Case, ev.Seq = c.ID, c.EvidenceCount
	if ev.Time.IsZero() {
		ev.Time = t.s.now()
	}
	if _, err := t.RefRaw(ev.SHA256, 1); err != nil {
		return err
	}
	if err := t.AppendEvent(c, Event{Kind: EvEvidence, Role: ev.Role, Message: ev.Message, Digest: ev.SHA256}); err != nil {
		return err
	}
	return t.put(bEvidence, eventKey(c.ID, ev.Seq), ev)
}

// CaseEvidence lists a case's evidence in order.
func (t *Tx) CaseEvidence(caseID string) ([]Evidence, error) {
	var out []Evidence
	prefix := []byte(caseID + "/")
	c := t.tx.Bucket(bEvidence).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var ev Evidence
		if err := decodeRow(v, &ev); err != nil {
			return nil, fmt.Errorf("evidence %s: %w", k, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// PutEvidence overwrites an evidence row (retention purge).
func (t *Tx) PutEvidence(ev Evidence) error { return t.put(bEvidence, eventKey(ev.Case, ev.Seq), ev) }
