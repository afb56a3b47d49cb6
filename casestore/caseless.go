package casestore

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bCaseless indexes the messages that belong to no case, were processed and
// still hold content (key: received time in Unix nanoseconds, big-endian with
// the sign flipped, then the message id; no value): what the retention sweep
// deletes once old enough, found without reading every message.
var bCaseless = []byte("messages_caseless")

func caselessKey(m *Message) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(m.Received.UnixNano())^(1<<63))
	binary.BigEndian.PutUint64(k[8:], m.ID)
	return k
}

// caseless reports whether m belongs in messages_caseless.
func caseless(m *Message) bool { return m.CaseID == "" && m.SHA256 != "" && m.Processed }

// indexCaseless keeps m's entry in messages_caseless as its row says.
func indexCaseless(b *bolt.Bucket, m *Message) error {
	if caseless(m) {
		return b.Put(caselessKey(m), nil)
	}
	return b.Delete(caselessKey(m))
}

// CaselessMessages lists messages that belong to no case and still hold
// content, received before cutoff, oldest first (for the retention sweep).
// It walks messages_caseless, so its cost is that of what it returns.
func (t *Tx) CaselessMessages(cutoff time.Time, limit int) ([]Message, error) {
	var out []Message
	c := t.tx.Bucket(bCaseless).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		if len(k) != 16 {
			return nil, fmt.Errorf("bad %s key %x", bCaseless, k)
		}
		if int64(binary.BigEndian.Uint64(k)^(1<<63)) >= cutoff.UnixNano() {
			break
		}
		m, err := t.Message(binary.BigEndian.Uint64(k[8:]))
		if err != nil {
			return nil, err
		}
		if caseless(m) && m.Received.Before(cutoff) { // else a stale entry: the row changed its time
			out = append(out, *m)
		}
	}
	return out, nil
}

// migrateCaseless fills messages_caseless from every message row (schema 4).
func migrateCaseless(tx *bolt.Tx) error {
	idx := tx.Bucket(bCaseless)
	err := tx.Bucket(bMessages).ForEach(func(k, v []byte) error {
		var m Message
		if err := decodeRow(v, &m); err != nil {
			return fmt.Errorf("message %d: %w", btoi(k), err)
		}
		if !caseless(&m) {
			return nil
		}
		return idx.Put(caselessKey(&m), nil)
	})
	if err != nil {
		return fmt.Errorf("migrate to schema 4 (caseless messages): %w", err)
	}
	return nil
}
