package casestore

// Mediators' personal messages: what a mediator's mail client keeps in its own
// folders (Sent, Drafts, Trash) next to the case folders. They are the
// mediator's copies, not evidence: they can be deleted. Their folders and UIDs
// live in the mailbox index (mailbox.go) like every other folder; this file
// keeps the messages themselves and each mediator's usage against the quota.
// The bytes go where raw case mail goes (inline up to InlineMax, else a blob),
// reference-counted with RefRaw, so a copy of a case message costs nothing.

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	bPersonalMsgs   = []byte("personal_msgs")  // id (8 bytes BE) -> PersonalMessage (JSON)
	bPersonalUsage  = []byte("personal_usage") // owner (lower-cased address) -> PersonalUsage (JSON)
	personalBuckets = [][]byte{bPersonalMsgs, bPersonalUsage}
)

// ErrOverQuota means a mediator's personal folders are full.
var ErrOverQuota = errors.New("personal folders over quota")

// PersonalMessage is one message in a mediator's personal folder.
type PersonalMessage struct {
	ID     uint64    `json:"id"`
	Owner  string    `json:"owner"`
	Date   time.Time `json:"date"` // INTERNALDATE
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
}

// PersonalUsage is what a mediator's personal messages take.
type PersonalUsage struct {
	Bytes    int64 `json:"bytes"`
	Messages int   `json:"messages"`
}

// PersonalQuota bounds a mediator's personal messages; zero fields are unbounded.
type PersonalQuota struct {
	Bytes    int64
	Messages int
}

func ownerKey(owner string) []byte { return []byte(strings.ToLower(owner)) }

// PersonalUsage returns what owner's personal messages take.
func (t *Tx) PersonalUsage(owner string) (PersonalUsage, error) {
	var u PersonalUsage
	v := t.tx.Bucket(bPersonalUsage).Get(ownerKey(owner))
	if v == nil {
		return u, nil
	}
	if err := decodeRow(v, &u); err != nil {
		return u, fmt.Errorf("personal usage of %s: %w", owner, err)
	}
	return u, nil
}

func (t *Tx) addPersonalUsage(owner string, bytes int64, n int, q *PersonalQuota) error {
	u, err := t.PersonalUsage(owner)
	if err != nil {
		return err
	}
	u.Bytes += bytes
	u.Messages += n
	if q != nil && ((q.Bytes > 0 && u.Bytes > q.Bytes) || (q.Messages > 0 && u.Messages > q.Messages)) {
		return ErrOverQuota
	}
	if u.Bytes < 0 {
		u.Bytes = 0
	}
	if u.Messages < 0 {
		u.Messages = 0
	}
	if u.Bytes == 0 && u.Messages == 0 {
		return t.tx.Bucket(bPersonalUsage).Delete(ownerKey(owner))
	}
	return t.put(bPersonalUsage, ownerKey(owner), u)
}

// AddPersonalMessage stores a personal message of owner whose content has
// digest sum and the given size. Content up to InlineMax is passed as inline
// and kept in the bbolt file; larger content must already be in the blob
// folder (inline nil). It fails with ErrOverQuota when the message does not
// fit in q.
func (t *Tx) AddPersonalMessage(owner string, date time.Time, sum string, size int64, inline []byte, q PersonalQuota) (*PersonalMessage, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("personal message: bad digest %q", sum)
	}
	if err := t.addPersonalUsage(owner, size, 1, &q); err != nil {
		return nil, err
	}
	if inline != nil {
		if err := t.PutRawInline(sum, inline); err != nil {
			return nil, err
		}
	} else if t.RawInline(sum) == nil && !t.s.Blobs.Has(sum) {
		return nil, fmt.Errorf("personal message: content %s is not stored", sum)
	}
	if _, err := t.RefRaw(sum, 1); err != nil {
		return nil, err
	}
	id, err := t.tx.Bucket(bPersonalMsgs).NextSequence()
	if err != nil {
		return nil, err
	}
	pm := &PersonalMessage{ID: id, Owner: strings.ToLower(owner), Date: date.UTC(), Size: size, SHA256: sum}
	return pm, t.put(bPersonalMsgs, itob(id), pm)
}

// PersonalMessage reads a personal message.
func (t *Tx) PersonalMessage(id uint64) (*PersonalMessage, error) {
	var pm PersonalMessage
	if err := t.get(bPersonalMsgs, itob(id), &pm); err != nil {
		return nil, fmt.Errorf("personal message %d: %w", id, err)
	}
	return &pm, nil
}

// DeletePersonalMessage removes a personal message and releases its
// content. It returns the digest of a blob file nothing references any more,
// for the caller to remove after the commit ("" if none).
func (t *Tx) DeletePersonalMessage(id uint64) (removeBlob string, err error) {
	pm, err := t.PersonalMessage(id)
	if err != nil {
		return "", err
	}
	if err := t.tx.Bucket(bPersonalMsgs).Delete(itob(id)); err != nil {
		return "", err
	}
	if err := t.addPersonalUsage(pm.Owner, -pm.Size, -1, nil); err != nil {
		return "", err
	}
	unused, err := t.RefRaw(pm.SHA256, -1)
	if err != nil || !unused {
		return "", err
	}
	if t.RawInline(pm.SHA256) != nil {
		return "", t.DeleteRawInline(pm.SHA256)
	}
	return pm.SHA256, nil
}
