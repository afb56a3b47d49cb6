package procedure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/emersion/go-message"

	"parley/casestore"
	"parley/evidence"
	"parley/route"
	"parley/threading"
)

// body is a rendered MIME entity (its own Content-* headers plus content),
// built outside the commit; the envelope headers that depend on the case's
// thread state are added inside the transaction by queue.
type body struct {
	entity []byte
	lang   string
	kind   string
	auto   bool // a system notice: Auto-Submitted: auto-generated
	// fromName is the display name in From, e.g. "Acme Shop via Parley".
	fromName string
	// subject replaces the case subject (notices to non-parties, who must not
	// learn the case's title).
	subject string
	// sum is the SHA-256 of a large entity, taken where it was rendered
	// (outside the transaction for relays); nil: taken when needed.
	sum []byte
}

// withSum notes the digest of a large entity, so the transaction that
// queues it need not read it all again.
func (b body) withSum() body {
	if len(b.entity) >= largeBody && b.sum == nil {
		s := sha256.Sum256(b.entity)
		b.sum = s[:]
	}
	return b
}

// renderBody builds a text/plain entity, or multipart/mixed with attachments.
func renderBody(text string, atts []evidence.Attachment) ([]byte, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\n", "\r\n")
	// Sized once: quoted-printable grows text by a little, base64 by a
	// third plus line breaks; growing a buffer from nothing copied it ~10 times.
	var buf bytes.Buffer
	size := len(text) + len(text)/8 + 512
	for _, a := range atts {
		size += len(a.Data)*138/100 + 256
	}
	buf.Grow(size)
	var h message.Header
	if len(atts) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := message.CreateWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(text)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	h.SetContentType("multipart/mixed", map[string]string{"boundary": boundaryFor(text, atts)})
	mw, err := message.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var th message.Header
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	tw, err := mw.CreatePart(th)
	if err != nil {
		return nil, err
	}
	tw.Write([]byte(text))
	tw.Close()
	for _, a := range atts {
		var ah message.Header
		ah.SetContentType(a.Declared, nil)
		ah.SetContentDisposition("attachment", map[string]string{"filename": a.Name})
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := mw.CreatePart(ah)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(a.Data); err != nil {
			return nil, err
		}
		aw.Close()
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// boundaryFor is a multipart boundary made from the content, so the same
// text and attachments always render to the same bytes: a large message
// rendered again in its transaction must be the one stored before it
// (largemail.go). It cannot occur in the parts: base64 lines have no "-",
// and the text would have to contain its own digest.
func boundaryFor(text string, atts []evidence.Attachment) string {
	h := sha256.New()
	h.Write([]byte(text))
	for _, a := range atts {
		sum := a.SHA256
		if sum == "" {
			s := sha256.Sum256(a.Data)
			sum = hex.EncodeToString(s[:])
		}
		h.Write([]byte("\x00" + a.Name + "\x00" + a.Declared + "\x00" + sum))
	}
	return "parley-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// maxThread bounds the Message-IDs remembered per party.
const maxThread = 20

// queue stores an outbound message to party role of case c: From and Reply-To
// the party's own case address, threaded on what Parley sent that party before.
// It appends a mail-out event; the caller writes c back.
// A mail to the trader also goes, as a copy, to the shop's staff addresses
// that wrote in the case and to those registered for copies of everything.
// It returns the outbound rows, the party's own first.
func (e *Engine) queue(tx *casestore.Tx, c *casestore.Case, role route.Role, b body) ([]uint64, error) {
	party := c.PartyByRole(role)
	if party == nil || party.Email == "" {
		return nil, fmt.Errorf("case %s has no %s address", c.ID, role)
	}
	own := e.keys.PartyLocal(c.ID, role) + "@" + e.domain
	thread := append([]string(nil), party.Thread...) // before this mail joins it
	o, err := e.queueTo(tx, c, party, own, b)
	if err != nil {
		return nil, err
	}
	ids := []uint64{o.ID}
	if role != route.Trader {
		return ids, nil
	}
	for _, addr := range e.traderCopies(tx, c) {
		cp := casestore.Party{Role: route.Trader, Name: party.Name, Email: addr, Lang: party.Lang, Thread: thread}
		o, err := e.queueTo(tx, c, &cp, own, b)
		if err != nil {
			return nil, err
		}
		ids = append(ids, o.ID)
	}
	return ids, nil
}

// traderCopies are the staff addresses that get copies of the trader's mail
// in case c: those that wrote in it, and those registered for everything.
func (e *Engine) traderCopies(tx *casestore.Tx, c *casestore.Case) []string {
	seen := map[string]bool{casestore.NormalizeEmail(c.Trader.Email): true}
	var out []string
	add := func(a string) {
		if n := casestore.NormalizeEmail(a); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, a)
		}
	}
	for _, a := range c.TraderStaff {
		add(a)
	}
	if c.Trader.Handle != "" {
		if tr, err := tx.Trader(c.Trader.Handle); err == nil {
			for _, s := range tr.Staff {
				if s.CC {
					add(s.Email)
				}
			}
		}
	}
	return out
}

// queueTo is queue for an arbitrary recipient (a party, or the sender of a
// quarantined message, in which case party.Role is empty and no thread is kept).
func (e *Engine) queueTo(tx *casestore.Tx, c *casestore.Case, party *casestore.Party, fromAddr string, b body) (*casestore.Outbound, error) {
	env := envelope{caseID: c.ID, lang: b.lang, auto: b.auto, thread: party.Thread, msgID: threading.NewMessageID(c.ID, e.hostname),
		date: e.now(), toName: party.Name, to: party.Email, fromName: b.fromName, fromAddr: fromAddr}
	if b.subject != "" {
		env.subject = threading.SanitizeHeader(b.subject)
	} else {
		env.subject = threading.CaseSubject(c.ID, c.Title, len(party.Thread) > 0)
	}
	id := tx.NextOutboundID()
	o := &casestore.Outbound{
		CaseID: c.ID, Role: party.Role, Kind: b.kind, To: party.Email,
		MailFrom: e.keys.BounceLocal(id) + "@" + e.domain, Created: env.date, Next: env.date,
	}
	var raw []byte
	if len(b.entity) >= largeBody {
		key := env.key(b.withSum().sum)
		s, ok := e.blobs.take(key)
		if !ok {
			return nil, &errNeedsBlob{key: key, env: env, entity: b.entity}
		}
		env.msgID, o.SHA256, o.Size = s.msgID, s.sum, s.size
	} else {
		head, err := env.header()
		if err != nil {
			return nil, err
		}
		raw = append(head, b.entity...)
	}
	msgID := env.msgID
	o.MessageID = msgID
	if err := tx.AddOutbound(o, raw); err != nil {
		return nil, fmt.Errorf("queue %s to %s: %w", b.kind, party.Role, err)
	}
	if o.ID != id {
		return nil, fmt.Errorf("outbound id moved from %d to %d", id, o.ID)
	}
	if party.Role != "" {
		party.Thread = appendThread(party.Thread, msgID)
	}
	if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvMailOut, Role: party.Role, Out: o.ID, Digest: o.SHA256, Text: b.kind}); err != nil {
		return nil, err
	}
	return o, nil
}

// appendThread adds a Message-ID to a party's thread, keeping the first (the
// root clients thread on) and the latest ones.
func appendThread(thread []string, id string) []string {
	if !strings.HasPrefix(id, "<") {
		id = "<" + id + ">"
	}
	thread = append(thread, id)
	if len(thread) > maxThread {
		thread = append(thread[:1], thread[len(thread)-maxThread+1:]...)
	}
	return thread
}
