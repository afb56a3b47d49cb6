package casestore

// The mailbox index: what package imapd needs to serve the case data as IMAP
// folders with stable UIDs (RFC 9051 section 2.3.1.1). imapd decides what an
// item is and which folder holds it; this file only stores, per folder, its
// fixed UIDVALIDITY, its next UID and the item behind every UID, plus the
// flags of each item (shared by every folder that shows it), the keywords ever
// used, what the index last saw of each case, and the folders each mediator
// unsubscribed.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

var (
	bMailFolders = []byte("mail_folders")  // folder key -> MailFolder (JSON)
	bMailUIDs    = []byte("mail_uids")     // folder key, 0, uid (4 bytes BE) -> item
	bMailItems   = []byte("mail_items")    // folder key, 0, item -> uid (4 bytes BE)
	bMailFlags   = []byte("mail_flags")    // item -> flags, space separated
	bMailCases   = []byte("mail_cases")    // case id -> MailCase (JSON)
	bMailWords   = []byte("mail_keywords") // lower-cased keyword -> keyword as first stored
	bMailUnsubs  = []byte("mail_unsubs")   // lower-cased owner, 0, folder -> "" (folders the owner unsubscribed)
	mailBuckets  = [][]byte{bMailFolders, bMailUIDs, bMailItems, bMailFlags, bMailCases, bMailWords, bMailUnsubs, bMailOpen, bMailClosed}
)

// MailFolder is the fixed identity of one IMAP folder.
type MailFolder struct {
	Key         string `json:"key"`
	UIDValidity uint32 `json:"uid_validity"`
	UIDNext     uint32 `json:"uid_next"`
	// RecentUID is the first UID no read-write session has been told of yet:
	// messages from it on are \Recent to the next session that selects the
	// folder (RFC 3501 section 2.3.2). Zero (a folder from before this field)
	// makes every message recent once.
	RecentUID uint32 `json:"recent_uid,omitempty"`
}

// MailEntry is one message of a folder: its UID and the item it shows.
type MailEntry struct {
	UID  uint32
	Item string
}

// MailCase is what the mailbox index last saw of a case.
type MailCase struct {
	ID    string `json:"id"`
	Stamp uint64 `json:"stamp"` // CaseStamp when the case was last indexed
	// ReplyTo is the mediator address written into every message of the
	// case, fixed when the case is first indexed so served bytes never change.
	ReplyTo string `json:"reply_to"`
	Label   string `json:"label"` // folder name part after the case id
	Closed  bool   `json:"closed,omitempty"`
	// ClosedAt is when a closed case closed: Closed/ lists the most
	// recently closed (maillist.go).
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	Mediation  bool      `json:"mediation,omitempty"` // in mediation: its party mail is in INBOX
	Purged     bool      `json:"purged,omitempty"`
	Quarantine bool      `json:"quarantine,omitempty"` // has a quarantine folder
	// OutSeen and EventsSeen are the highest outbound id and event sequence
	// already indexed: both only grow, so a sync reads only what is new.
	OutSeen    uint64 `json:"out_seen,omitempty"`
	EventsSeen uint64 `json:"events_seen,omitempty"`
	// Layout is how the case folder is laid out (imapd's caseLayout); an
	// older layout is brought up to date once.
	Layout int `json:"layout,omitempty"`
	// Root is the Message-ID every message of the case folder is threaded
	// on, fixed when the case is first indexed.
	Root string `json:"root,omitempty"`
}

func mailKey(folder string, rest []byte) []byte {
	k := make([]byte, 0, len(folder)+1+len(rest))
	return append(append(append(k, folder...), 0), rest...)
}

func uidBytes(uid uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uid)
	return b
}

// Generation changes with every committed write to the file; equal values
// mean nothing changed in between.
func (t *Tx) Generation() uint64 { return uint64(t.tx.ID()) }

// Event reads one event of a case's log.
func (t *Tx) Event(caseID string, seq uint64) (*Event, error) {
	var ev Event
	if err := t.get(bEvents, eventKey(caseID, seq), &ev); err != nil {
		return nil, fmt.Errorf("event %s/%d: %w", caseID, seq, err)
	}
	return &ev, nil
}

// MailFolder reads a folder of the index.
func (t *Tx) MailFolder(key string) (MailFolder, error) {
	var f MailFolder
	if err := t.get(bMailFolders, []byte(key), &f); err != nil {
		return f, fmt.Errorf("mail folder %s: %w", key, err)
	}
	return f, nil
}

// EnsureMailFolder returns the folder, creating it when new. A new folder's
// UIDVALIDITY is the current Unix time, or one more than the last one handed
// out if that is larger, so no two folders share one and a folder re-created
// under an old name never reuses its old value.
func (t *Tx) EnsureMailFolder(key string) (MailFolder, error) {
	f, err := t.MailFolder(key)
	if err == nil {
		return f, nil
	}
	meta := t.tx.Bucket(bMeta)
	last := btoi(meta.Get([]byte("mail/uidvalidity")))
	v := uint64(t.s.now().Unix())
	if v <= last {
		v = last + 1
	}
	if v > 0xffffffff {
		return f, fmt.Errorf("mail folder %s: UIDVALIDITY space exhausted", key)
	}
	if err := meta.Put([]byte("mail/uidvalidity"), itob(v)); err != nil {
		return f, err
	}
	f = MailFolder{Key: key, UIDValidity: uint32(v), UIDNext: 1}
	return f, t.put(bMailFolders, []byte(key), f)
}

// SetMailRecent raises a folder's RecentUID to uid; it never lowers it, so
// writes that arrive out of order cannot make messages recent again.
func (t *Tx) SetMailRecent(key string, uid uint32) error {
	f, err := t.MailFolder(key)
	if err != nil {
		return err
	}
	if uid <= f.RecentUID {
		return nil
	}
	f.RecentUID = uid
	return t.put(bMailFolders, []byte(key), f)
}

// MailAppend gives each item not yet in the folder the next UID, in the
// order given, and returns the UIDs of all items (existing ones keep theirs).
// The folder must exist.
func (t *Tx) MailAppend(key string, items ...string) ([]uint32, error) {
	f, err := t.MailFolder(key)
	if err != nil {
		return nil, err
	}
	uidsB, itemsB := t.tx.Bucket(bMailUIDs), t.tx.Bucket(bMailItems)
	out := make([]uint32, len(items))
	next := f.UIDNext
	for i, item := range items {
		ik := mailKey(key, []byte(item))
		if v := itemsB.Get(ik); len(v) == 4 {
			out[i] = binary.BigEndian.Uint32(v)
			continue
		}
		if next == 0 || next == 0xffffffff {
			return nil, fmt.Errorf("mail folder %s: UID space exhausted", key)
		}
		uid := next
		next++
		if err := uidsB.Put(mailKey(key, uidBytes(uid)), []byte(item)); err != nil {
			return nil, err
		}
		if err := itemsB.Put(ik, uidBytes(uid)); err != nil {
			return nil, err
		}
		out[i] = uid
	}
	if next != f.UIDNext {
		f.UIDNext = next
		if err := t.put(bMailFolders, []byte(key), f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MailRemove takes an item out of a folder and returns the UID it had (0 if
// it was not there). The UID is never handed out again.
func (t *Tx) MailRemove(key, item string) (uint32, error) {
	itemsB := t.tx.Bucket(bMailItems)
	ik := mailKey(key, []byte(item))
	v := itemsB.Get(ik)
	if len(v) != 4 {
		return 0, nil
	}
	uid := binary.BigEndian.Uint32(v)
	if err := itemsB.Delete(ik); err != nil {
		return 0, err
	}
	return uid, t.tx.Bucket(bMailUIDs).Delete(mailKey(key, uidBytes(uid)))
}

// MailEntries lists a folder's messages in UID order.
func (t *Tx) MailEntries(key string) ([]MailEntry, error) {
	var out []MailEntry
	prefix := mailKey(key, nil)
	c := t.tx.Bucket(bMailUIDs).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rest := k[len(prefix):]
		if len(rest) != 4 {
			return nil, fmt.Errorf("mail folder %s: bad key %q", key, k)
		}
		out = append(out, MailEntry{UID: binary.BigEndian.Uint32(rest), Item: string(v)})
	}
	return out, nil
}

// MailHas reports whether item is in the folder.
func (t *Tx) MailHas(key, item string) bool {
	return len(t.tx.Bucket(bMailItems).Get(mailKey(key, []byte(item)))) == 4
}

// MailItems lists the entries of a folder whose item starts with prefix, by item.
func (t *Tx) MailItems(key, prefix string) ([]MailEntry, error) {
	var out []MailEntry
	p := mailKey(key, []byte(prefix))
	c := t.tx.Bucket(bMailItems).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(v) != 4 {
			return nil, fmt.Errorf("mail folder %s: bad entry %q", key, k)
		}
		out = append(out, MailEntry{UID: binary.BigEndian.Uint32(v), Item: string(k[len(key)+1:])})
	}
	return out, nil
}

// MailFlags returns an item's flags (nil when it has none).
func (t *Tx) MailFlags(item string) []string {
	v := t.tx.Bucket(bMailFlags).Get([]byte(item))
	if len(v) == 0 {
		return nil
	}
	return strings.Fields(string(v))
}

// SetMailFlags replaces an item's flags. Flags are atoms: they hold no spaces.
func (t *Tx) SetMailFlags(item string, flags []string) error {
	b := t.tx.Bucket(bMailFlags)
	if len(flags) == 0 {
		return b.Delete([]byte(item))
	}
	for _, f := range flags {
		if f == "" || strings.ContainsAny(f, " \t\r\n") {
			return fmt.Errorf("flag %q is not an atom", f)
		}
	}
	return b.Put([]byte(item), []byte(strings.Join(flags, " ")))
}

// DeleteMailFlags forgets the flags of every item starting with prefix.
func (t *Tx) DeleteMailFlags(prefix string) error {
	b := t.tx.Bucket(bMailFlags)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// MailKeywords lists every keyword stored so far, sorted.
func (t *Tx) MailKeywords() []string {
	var out []string
	t.tx.Bucket(bMailWords).ForEach(func(_, v []byte) error {
		out = append(out, string(v))
		return nil
	})
	sort.Strings(out)
	return out
}

// AddMailKeyword records a keyword (keywords compare case-insensitively) and
// returns the form stored first, and whether it is new.
func (t *Tx) AddMailKeyword(kw string) (string, bool, error) {
	b := t.tx.Bucket(bMailWords)
	k := []byte(strings.ToLower(kw))
	if v := b.Get(k); v != nil {
		return string(v), false, nil
	}
	return kw, true, b.Put(k, []byte(kw))
}

// MailCase reads what the index last saw of a case.
func (t *Tx) MailCase(id string) (MailCase, error) {
	var mc MailCase
	err := t.get(bMailCases, []byte(id), &mc)
	return mc, err
}

// PutMailCase writes what the index saw of a case, and keeps the lists of
// the cases it shows up to date (maillist.go).
func (t *Tx) PutMailCase(mc MailCase) error {
	var prev *MailCase
	if old, err := t.MailCase(mc.ID); err == nil {
		prev = &old
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("mail case %s: %w", mc.ID, err)
	}
	if err := putMailListing(t.tx, prev, &mc); err != nil {
		return fmt.Errorf("mail case %s: %w", mc.ID, err)
	}
	return t.put(bMailCases, []byte(mc.ID), mc)
}

// MailUnsubscribed lists the folders owner unsubscribed (imapd decides what
// a folder's entry is), sorted.
func (t *Tx) MailUnsubscribed(owner string) []string {
	var out []string
	prefix := mailKey(strings.ToLower(owner), nil)
	c := t.tx.Bucket(bMailUnsubs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// SetMailSubscribed records that owner subscribed to (unsubscribed from) a
// folder entry. Every folder counts as subscribed until its owner
// unsubscribes it, so only unsubscriptions are stored.
func (t *Tx) SetMailSubscribed(owner, entry string, subscribed bool) error {
	if entry == "" {
		return fmt.Errorf("subscription of %s: empty folder", owner)
	}
	k := mailKey(strings.ToLower(owner), []byte(entry))
	b := t.tx.Bucket(bMailUnsubs)
	if subscribed {
		return b.Delete(k)
	}
	return b.Put(k, []byte{})
}
