package casestore

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The cases the mailbox index shows: every case it shows under Cases/, and
// every closed case it indexed, by closing time. A store of a million closed
// cases lists only the most recently closed ones, so the index reads these
// two lists at start instead of every case it ever saw. PutMailCase keeps
// them in step with the MailCase rows; a purged case is in neither.
var (
	bMailOpen   = []byte("mail_open")   // case id -> "" (indexed, not closed, not purged)
	bMailClosed = []byte("mail_closed") // closing time (8 bytes), case id -> "" (indexed, closed, not purged)
)

// closedKey is a closed case's key in mail_closed: its closing time
// (nanoseconds, big-endian with the sign flipped so keys sort in time order)
// then its id.
func closedKey(at time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(at.UnixNano())^(1<<63))
	return append(k, id...)
}

// listingKey is where a MailCase belongs: in mail_open, in mail_closed, or
// nowhere (purged).
func listingKey(mc *MailCase) (bucket, key []byte) {
	switch {
	case mc.Purged:
		return nil, nil
	case mc.Closed:
		return bMailClosed, closedKey(mc.ClosedAt, mc.ID)
	default:
		return bMailOpen, []byte(mc.ID)
	}
}

// putMailListing moves a case from where prev (nil for a new row) put it to
// where mc belongs.
func putMailListing(tx *bolt.Tx, prev, mc *MailCase) error {
	b, k := listingKey(mc)
	if prev != nil {
		if pb, pk := listingKey(prev); pb != nil && (string(pb) != string(b) || string(pk) != string(k)) {
			if err := tx.Bucket(pb).Delete(pk); err != nil {
				return err
			}
		}
	}
	if b == nil || tx.Bucket(b).Get(k) != nil {
		return nil
	}
	return tx.Bucket(b).Put(k, []byte{})
}

// MailListed returns what the index saw of every case it shows under Cases/
// and of the closed most recently closed cases it indexed, newest first
// after the open ones. It reads those rows alone, however many cases the
// store holds.
func (t *Tx) MailListed(closed int) ([]MailCase, error) {
	var out []MailCase
	read := func(id []byte) error {
		mc, err := t.MailCase(string(id))
		if err != nil {
			return fmt.Errorf("listed mail case %s: %w", id, err)
		}
		out = append(out, mc)
		return nil
	}
	c := t.tx.Bucket(bMailOpen).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if err := read(k); err != nil {
			return nil, err
		}
	}
	c = t.tx.Bucket(bMailClosed).Cursor()
	for k, _ := c.Last(); k != nil && closed > 0; k, _ = c.Prev() {
		if len(k) <= 8 {
			return nil, fmt.Errorf("mail_closed: bad key %q", k)
		}
		if err := read(k[8:]); err != nil {
			return nil, err
		}
		closed--
	}
	return out, nil
}

// mailSeenKey is the meta key of MailSeen.
var mailSeenKey = []byte("mail/seen")

// MailSeen is the sequence of the change log (changes.go) up to which the
// mailbox index has indexed every change.
func (t *Tx) MailSeen() uint64 { return btoi(t.tx.Bucket(bMeta).Get(mailSeenKey)) }

// SetMailSeen records MailSeen; it never moves back.
func (t *Tx) SetMailSeen(seq uint64) error {
	if seq <= t.MailSeen() {
		return nil
	}
	return t.tx.Bucket(bMeta).Put(mailSeenKey, itob(seq))
}
