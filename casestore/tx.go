package casestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// InlineMax is the largest raw message kept inside the bbolt file; larger ones
// go to the blob folder (fsynced before the row that names them is committed).
const InlineMax = 256 << 10

// Tx is a transaction with typed accessors.
type Tx struct {
	tx *bolt.Tx
	s  *Store
	// touched holds the cases this transaction changed and the messages
	// of each it wrote, for Watch.
	touched map[string]map[uint64]struct{}
	// lastChange is the change log sequence it gave its last case.
	lastChange uint64
	// cases holds each case row this transaction decoded or wrote, as it
	// now stands. The callers of one group commit share a transaction and
	// mostly work on the same busy case: decoding its row once instead of
	// once per caller was 4 % of the daemon's CPU under ingest. Callers get
	// copies, so one that changes a case and does not put it leaves no
	// trace; a failed caller rolls the transaction back, and its cache with
	// it.
	cases map[string]*Case
}

func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (t *Tx) put(bucket, key []byte, v any) error {
	b, err := encodeRow(v)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucket).Put(key, b)
}

func (t *Tx) get(bucket, key []byte, v any) error {
	b := t.tx.Bucket(bucket).Get(key)
	if b == nil {
		return ErrNotFound
	}
	return decodeRow(b, v)
}

// NormalizeEmail lower-cases an address for lookups.
func NormalizeEmail(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// traderKeys are a trader's index keys: each address, and "@DOMAIN" for
// each bound domain.
func traderKeys(tr Trader) []string {
	var keys []string
	for _, a := range tr.Addresses() {
		keys = append(keys, NormalizeEmail(a))
	}
	for _, d := range tr.Domains {
		keys = append(keys, "@"+strings.ToLower(d))
	}
	return keys
}

// PutTrader adds or replaces a trader, keeping the address and domain index
// right; an address or domain of another trader is refused.
func (t *Tx) PutTrader(tr Trader) error {
	tr.Handle = strings.ToLower(tr.Handle)
	idx := t.tx.Bucket(bTraderMail)
	var old Trader
	if err := t.get(bTraders, []byte(tr.Handle), &old); err == nil {
		for _, k := range traderKeys(old) {
			if err := idx.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for _, k := range traderKeys(tr) {
		if h := idx.Get([]byte(k)); h != nil && string(h) != tr.Handle {
			return fmt.Errorf("%s already belongs to trader %s", strings.TrimPrefix(k, "@"), h)
		}
	}
	if err := t.put(bTraders, []byte(tr.Handle), tr); err != nil {
		return err
	}
	for _, k := range traderKeys(tr) {
		if err := idx.Put([]byte(k), []byte(tr.Handle)); err != nil {
			return err
		}
	}
	return nil
}

// Trader returns the trader with the handle.
func (t *Tx) Trader(handle string) (Trader, error) {
	var tr Trader
	err := t.get(bTraders, []byte(strings.ToLower(handle)), &tr)
	return tr, err
}

// TraderByEmail finds the registered trader an address speaks for: one of
// its addresses, or an address at one of its domains.
func (t *Tx) TraderByEmail(email string) (Trader, error) {
	n := NormalizeEmail(email)
	idx := t.tx.Bucket(bTraderMail)
	h := idx.Get([]byte(n))
	if h == nil {
		if at := strings.LastIndexByte(n, '@'); at >= 0 {
			h = idx.Get([]byte(n[at:]))
		}
	}
	if h == nil {
		return Trader{}, ErrNotFound
	}
	return t.Trader(string(h))
}

// Traders lists all traders by handle.
func (t *Tx) Traders() ([]Trader, error) {
	var out []Trader
	err := t.tx.Bucket(bTraders).ForEach(func(k, v []byte) error {
		var tr Trader
		if err := decodeRow(v, &tr); err != nil {
			return fmt.Errorf("trader %s: %w", k, err)
		}
		out = append(out, tr)
		return nil
	})
	return out, err
}

// PutCase writes a case.
func (t *Tx) PutCase(c *Case) error {
	c.Updated = t.s.now()
	old := ""
	if v := t.tx.Bucket(bCases).Get([]byte(c.ID)); v != nil {
		var err error
		if old, err = rowState(v); err != nil {
			return fmt.Errorf("case %s: %w", c.ID, err)
		}
	}
	if err := t.countCase(old, c.State); err != nil {
		return err
	}
	t.touch(c.ID)
	if idx, k := t.tx.Bucket(bCasesByCreated), createdKey(c); idx.Get(k) == nil {
		if err := idx.Put(k, nil); err != nil {
			return err
		}
	}
	if err := t.put(bCases, []byte(c.ID), c); err != nil {
		return err
	}
	t.cacheCase(c)
	return nil
}

// cacheCase keeps a copy of c in a group commit's transaction (the only
// kind with a cache: a read-only one rarely reads a case twice, and would
// pay for the copy).
func (t *Tx) cacheCase(c *Case) {
	if t.cases != nil {
		t.cases[c.ID] = c.clone()
	}
}

// CaseExists reports whether a case id is taken.
func (t *Tx) CaseExists(id string) bool { return t.tx.Bucket(bCases).Get([]byte(id)) != nil }

// Case reads a case.
func (t *Tx) Case(id string) (*Case, error) {
	if c, ok := t.cases[id]; ok {
		return c.clone(), nil
	}
	var c Case
	if err := t.get(bCases, []byte(id), &c); err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	t.cacheCase(&c)
	return &c, nil
}

// CasePurged reports whether a case's personal data was deleted, decoding
// only that field of its row and caching nothing: for a pass over every case
// that skips the purged ones (the mailbox index's first look at a store,
// where they are most of a million).
func (t *Tx) CasePurged(id string) (bool, error) {
	if c, ok := t.cases[id]; ok {
		return c.Purged, nil
	}
	v := t.tx.Bucket(bCases).Get([]byte(id))
	if v == nil {
		return false, fmt.Errorf("case %s: %w", id, ErrNotFound)
	}
	var row struct {
		Purged bool `json:"purged"`
	}
	if err := decodeRow(v, &row); err != nil {
		return false, fmt.Errorf("case %s: %w", id, err)
	}
	return row.Purged, nil
}

// Cases lists all cases, newest first.
func (t *Tx) Cases() ([]Case, error) {
	var out []Case
	err := t.tx.Bucket(bCases).ForEach(func(k, v []byte) error {
		var c Case
		if err := decodeRow(v, &c); err != nil {
			return fmt.Errorf("case %s: %w", k, err)
		}
		out = append(out, c)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// NextMessageID reserves a message id.
func (t *Tx) NextMessageID() (uint64, error) { return t.tx.Bucket(bMessages).NextSequence() }

// PutMessage writes a message row.
func (t *Tx) PutMessage(m *Message) error {
	t.touchMessage(m.CaseID, m.ID)
	if m.CaseID != "" {
		b, key := t.tx.Bucket(bCaseMsgs), append([]byte(m.CaseID+"/"), itob(m.ID)...)
		// The values are empty, which Get cannot tell from a missing key.
		if k, _ := b.Cursor().Seek(key); !bytes.Equal(k, key) {
			if err := b.Put(key, nil); err != nil {
				return err
			}
			if err := t.countCaseMessage(m.CaseID); err != nil {
				return err
			}
		}
	}
	if err := indexCaseless(t.tx.Bucket(bCaseless), m); err != nil {
		return err
	}
	return t.put(bMessages, itob(m.ID), m)
}

// Message reads a message row.
func (t *Tx) Message(id uint64) (*Message, error) {
	var m Message
	if err := t.get(bMessages, itob(id), &m); err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return &m, nil
}

// CaseMessages lists the messages of a case in the order they were accepted.
func (t *Tx) CaseMessages(caseID string) ([]Message, error) {
	var out []Message
	prefix := []byte(caseID + "/")
	c := t.tx.Bucket(bCaseMsgs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		m, err := t.Message(btoi(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, nil
}

// DedupKey names a delivery for redelivery detection: the same Message-ID
// and the same content to the same target is one message.
func DedupKey(target, messageID, sum string) string {
	return target + "\x00" + messageID + "\x00" + sum
}

// CaseMessageCount is how many messages a case has (its keys in
// messages_by_case, counted as they are added: a list of the newest cases
// does not scan the messages of each).
func (t *Tx) CaseMessageCount(caseID string) int {
	return int(btoi(t.tx.Bucket(bCaseMsgCounts).Get([]byte(caseID))))
}

func (t *Tx) countCaseMessage(caseID string) error {
	b := t.tx.Bucket(bCaseMsgCounts)
	return b.Put([]byte(caseID), itob(btoi(b.Get([]byte(caseID)))+1))
}

// Dedup returns the message already stored under key, or 0.
func (t *Tx) Dedup(key string) uint64 { return btoi(t.tx.Bucket(bDedup).Get([]byte(key))) }

// DeleteDedup forgets a dedup key (retention purge).
func (t *Tx) DeleteDedup(key string) error { return t.tx.Bucket(bDedup).Delete([]byte(key)) }

// SetDedup records key -> message id.
func (t *Tx) SetDedup(key string, id uint64) error {
	return t.tx.Bucket(bDedup).Put([]byte(key), itob(id))
}

// Raw returns the raw bytes of content sum, from the bbolt file or the blob folder.
func (s *Store) Raw(sum string) ([]byte, error) {
	var data []byte
	if err := s.View(func(tx *Tx) error { data = tx.RawInline(sum); return nil }); err != nil {
		return nil, err
	}
	if data != nil {
		return data, nil
	}
	f, err := s.Blobs.Open(sum)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("raw %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("raw %s: %w", sum, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// OpenRaw opens raw content for streaming: inline content from the bbolt
// file, else the blob.
func (s *Store) OpenRaw(sum string) (io.ReadCloser, int64, error) {
	var data []byte
	if err := s.View(func(tx *Tx) error { data = tx.RawInline(sum); return nil }); err != nil {
		return nil, 0, err
	}
	if data != nil {
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}
	f, err := s.Blobs.Open(sum)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("raw %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("raw %s: %w", sum, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// AppendEvent appends ev to the case's hash-chained log and advances c's
// counters; the caller writes c back with PutCase in the same transaction.
func (t *Tx) AppendEvent(c *Case, ev Event) error {
	ev.Case = c.ID
	ev.Seq = c.Events + 1
	if ev.Time.IsZero() {
		ev.Time = t.s.now()
	}
	ev.Prev = c.LastHash
	ev.Hash = ""
	if ev.Digest == "" {
		switch {
		case ev.Message != 0 && (ev.Kind == EvMailIn || ev.Kind == EvQuarantine || ev.Kind == EvAutoReply || ev.Kind == EvBounce):
			if m, err := t.Message(ev.Message); err == nil {
				ev.Digest = m.SHA256
			}
		case ev.Out != 0 && ev.Kind == EvMailOut:
			if o, err := t.Outbound(ev.Out); err == nil {
				ev.Digest = o.SHA256
			}
		}
	}
	if ev.Text != "" {
		sum := sha256.Sum256([]byte(ev.Text))
		ev.TextSHA = hex.EncodeToString(sum[:])
	}
	ev.Hash = EventHash(ev)
	if err := t.put(bEvents, eventKey(c.ID, ev.Seq), ev); err != nil {
		return fmt.Errorf("append event to %s: %w", c.ID, err)
	}
	c.Events, c.LastHash = ev.Seq, ev.Hash
	return nil
}

// EventHash is SHA-256 over the previous hash and the event's JSON without
// its own hash and without its text (whose SHA-256 it includes). The JSON is
// encoding/json's, written by encodeRow (byte for byte the same,
// TestEncodersAgree) in a third of the time: case files exported before
// verify unchanged.
func EventHash(ev Event) string {
	ev.Hash, ev.Text = "", ""
	b, _ := encodeRow(ev)
	h := sha256.New()
	h.Write([]byte(ev.Prev))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func eventKey(caseID string, seq uint64) []byte {
	return append([]byte(caseID+"/"), itob(seq)...)
}

// Events returns the case's log in order.
func (t *Tx) Events(caseID string) ([]Event, error) { return t.EventsAfter(caseID, 0) }

// EventsAfter returns the case's events with sequence numbers above after.
func (t *Tx) EventsAfter(caseID string, after uint64) ([]Event, error) {
	var out []Event
	prefix := []byte(caseID + "/")
	c := t.tx.Bucket(bEvents).Cursor()
	for k, v := c.Seek(eventKey(caseID, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var ev Event
		if err := decodeRow(v, &ev); err != nil {
			return nil, fmt.Errorf("event %s: %w", k, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// AddJob queues follow-up work; the id is assigned here.
func (t *Tx) AddJob(j *Job) error {
	id, err := t.tx.Bucket(bJobs).NextSequence()
	if err != nil {
		return err
	}
	j.ID = id
	return t.put(bJobs, itob(id), j)
}

// DeleteJob removes a finished job.
func (t *Tx) DeleteJob(id uint64) error { return t.tx.Bucket(bJobs).Delete(itob(id)) }

// JobExists reports whether a job is still pending.
func (t *Tx) JobExists(id uint64) bool { return t.tx.Bucket(bJobs).Get(itob(id)) != nil }

// Jobs lists pending jobs in the order they were queued.
func (t *Tx) Jobs() ([]Job, error) {
	var out []Job
	err := t.tx.Bucket(bJobs).ForEach(func(k, v []byte) error {
		var j Job
		if err := decodeRow(v, &j); err != nil {
			return fmt.Errorf("job %d: %w", btoi(k), err)
		}
		out = append(out, j)
		return nil
	})
	return out, err
}

// AddOutbound queues a message for delivery. Raw content (up to InlineMax)
// is stored inline; with raw nil, the content must already be in the blob
// folder under o.SHA256, written and fsynced before the transaction.
func (t *Tx) AddOutbound(o *Outbound, raw []byte) error {
	id, err := t.tx.Bucket(bOutbound).NextSequence()
	if err != nil {
		return err
	}
	o.ID = id
	if raw != nil {
		sum := sha256.Sum256(raw)
		o.SHA256 = hex.EncodeToString(sum[:])
		o.Size = int64(len(raw))
		if len(raw) > InlineMax {
			// A file write and fsync here would hold every commit of the
			// batch behind it: large content is stored first, by the caller.
			return fmt.Errorf("outbound %d: %d bytes must be in the blob folder before the transaction", id, len(raw))
		}
		if err := t.PutRawInline(o.SHA256, raw); err != nil {
			return err
		}
	} else if !t.s.Blobs.Has(o.SHA256) {
		return fmt.Errorf("outbound %d: content %s is not in the blob folder", id, o.SHA256)
	}
	if _, err := t.RefRaw(o.SHA256, 1); err != nil {
		return err
	}
	if o.State == "" {
		o.State = OutQueued
	}
	if o.CaseID != "" {
		if err := t.tx.Bucket(bOutByCase).Put(append([]byte(o.CaseID+"/"), itob(id)...), nil); err != nil {
			return err
		}
	}
	return t.PutOutbound(o)
}

// NextOutboundID returns the id the next AddOutbound will assign, so the
// message can name its own VERP address before it is stored.
func (t *Tx) NextOutboundID() uint64 { return t.tx.Bucket(bOutbound).Sequence() + 1 }

// PutOutbound updates an outbound row.
// The queued index lets a starting daemon find undelivered rows without
// reading every row ever sent.
func (t *Tx) PutOutbound(o *Outbound) error {
	t.touch(o.CaseID)
	q := t.tx.Bucket(bOutQueued)
	var err error
	if o.State == OutQueued {
		err = q.Put(itob(o.ID), nil)
	} else {
		err = q.Delete(itob(o.ID))
	}
	if err != nil {
		return err
	}
	return t.put(bOutbound, itob(o.ID), o)
}

// QueuedOutbound lists rows waiting for delivery.
func (t *Tx) QueuedOutbound() ([]Outbound, error) {
	var out []Outbound
	c := t.tx.Bucket(bOutQueued).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		o, err := t.Outbound(btoi(k))
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

// CaseOutbound lists the outbound rows of a case in order.
func (t *Tx) CaseOutbound(caseID string) ([]Outbound, error) { return t.CaseOutboundAfter(caseID, 0) }

// CaseOutboundAfter lists the outbound rows of a case with ids above after.
func (t *Tx) CaseOutboundAfter(caseID string, after uint64) ([]Outbound, error) {
	var out []Outbound
	prefix := []byte(caseID + "/")
	c := t.tx.Bucket(bOutByCase).Cursor()
	for k, _ := c.Seek(append(bytes.Clone(prefix), itob(after+1)...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		o, err := t.Outbound(btoi(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

// Outbound reads an outbound row.
func (t *Tx) Outbound(id uint64) (*Outbound, error) {
	var o Outbound
	if err := t.get(bOutbound, itob(id), &o); err != nil {
		return nil, fmt.Errorf("outbound %d: %w", id, err)
	}
	return &o, nil
}

// VerifyEvents checks a case's log: each event's hash, the chain of previous
// hashes, the text digests, and that the case's head matches the last event.
// It returns the sequence number of the first bad event, or 0.
func VerifyEvents(c *Case, evs []Event) (uint64, string) {
	prev := ""
	for i, ev := range evs {
		switch {
		case ev.Seq != uint64(i+1):
			return uint64(i + 1), fmt.Sprintf("event %d is missing (found %d in its place)", i+1, ev.Seq)
		case ev.Prev != prev:
			return ev.Seq, "its previous-hash does not match the event before it"
		case EventHash(ev) != ev.Hash:
			return ev.Seq, "its content does not match its hash"
		}
		if ev.Text != "" {
			sum := sha256.Sum256([]byte(ev.Text))
			if hex.EncodeToString(sum[:]) != ev.TextSHA {
				return ev.Seq, "its text does not match the text digest"
			}
		}
		prev = ev.Hash
	}
	if c.Events != uint64(len(evs)) || c.LastHash != prev {
		return uint64(len(evs)) + 1, fmt.Sprintf("the case records %d events ending in %.12s, the log has %d ending in %.12s", c.Events, c.LastHash, len(evs), prev)
	}
	return 0, ""
}

// PutEvent overwrites a stored event (retention purge of its text only).
func (t *Tx) PutEvent(ev Event) error { return t.put(bEvents, eventKey(ev.Case, ev.Seq), ev) }
