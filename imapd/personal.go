package imapd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"parley/casestore"
)

// Personal folders: each mediator's own Sent, Drafts and Trash, which mail
// clients need to save sent mail, keep drafts and throw mail away. They are
// listed only to their owner, next to INBOX, Cases and Closed. Their messages
// are the mediator's copies, not evidence: APPEND, \Deleted, EXPUNGE, COPY
// and MOVE work there. Their keys hold the owner's address, so no other
// session can reach them.

// personalFolders are the personal folders of every mediator, by name.
var personalFolders = []struct {
	name string
	use  imap.MailboxAttr
}{
	{"Drafts", imap.MailboxAttrDrafts},
	{"Sent", imap.MailboxAttrSent},
	{"Trash", imap.MailboxAttrTrash},
}

// errExpunged means a message left its folder while a command was using it.
var errExpunged = errors.New("expunged by another session")

// Default quota of one mediator's personal folders.
const (
	defaultQuotaBytes    = 500 << 20
	defaultQuotaMessages = 10000
)

func personalFolderKey(owner, name string) string {
	return "p/" + strings.ToLower(owner) + "/" + name
}

func isPersonalKey(key string) bool { return strings.HasPrefix(key, "p/") }

// personalItem names a personal message in the index. Case items start with
// a case id, never with "~".
func personalItem(id uint64) string { return "~" + strconv.FormatUint(id, 10) }

func parsePersonalItem(item string) (uint64, bool) {
	if !strings.HasPrefix(item, "~") {
		return 0, false
	}
	id, err := strconv.ParseUint(item[1:], 10, 64)
	return id, err == nil
}

// personalKey returns the key of one of the session's personal folders.
func (s *session) personalKey(name string) (string, bool) {
	if s.user == "" {
		return "", false
	}
	for _, f := range personalFolders {
		if f.name == name {
			return personalFolderKey(s.user, name), true
		}
	}
	return "", false
}

// personalList is the LIST entries of owner's personal folders.
func personalList(owner string) []folderEntry {
	out := make([]folderEntry, len(personalFolders))
	for i, f := range personalFolders {
		out[i] = folderEntry{name: f.name, key: personalFolderKey(owner, f.name), attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren, f.use}}
	}
	return out
}

func isSpecialUse(attrs []imap.MailboxAttr) bool {
	for _, a := range attrs {
		switch a {
		case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash:
			return true
		}
	}
	return false
}

// ensurePersonal creates the owner's personal folders the first time.
func (x *index) ensurePersonal(owner string) error {
	owner = strings.ToLower(owner)
	x.mu.Lock()
	done := x.ensured[owner]
	x.mu.Unlock()
	if done {
		return nil
	}
	err := x.store.Update(func(tx *casestore.Tx) error {
		for _, f := range personalFolders {
			if _, err := tx.EnsureMailFolder(personalFolderKey(owner, f.name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create personal folders of %s: %w", owner, err)
	}
	x.mu.Lock()
	x.ensured[owner] = true
	x.mu.Unlock()
	return nil
}

// loadPersonal reads a personal message's bytes, served as stored.
func loadPersonal(store *casestore.Store, id uint64) (*content, error) {
	var (
		raw []byte
		pm  *casestore.PersonalMessage
	)
	err := store.View(func(tx *casestore.Tx) (err error) {
		if pm, err = tx.PersonalMessage(id); err != nil {
			return err
		}
		raw, err = rawBytes(store, tx, pm.SHA256)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load personal message %d: %w", id, err)
	}
	return newContent(raw, pm.Date), nil
}

// newPersonal is a message to file in a personal folder: new content (sum,
// size, and inline when small; a large one is already a blob), or an
// existing personal message re-filed (item set, for MOVE).
type newPersonal struct {
	sum    string
	size   int64
	inline []byte
	date   time.Time
	flags  []imap.Flag // canonical
	item   string
}

// stage makes content ready to file: small content stays in memory, large
// content is written to the blob folder first.
func (x *index) stage(r io.Reader, size int64) (sum string, inline []byte, n int64, err error) {
	if size <= casestore.InlineMax {
		b, err := io.ReadAll(io.LimitReader(r, casestore.InlineMax+1))
		if err != nil {
			return "", nil, 0, err
		}
		if len(b) <= casestore.InlineMax {
			h := sha256.Sum256(b)
			return hex.EncodeToString(h[:]), b, int64(len(b)), nil
		}
		r = io.MultiReader(bytes.NewReader(b), r)
	}
	w, err := x.store.Blobs.Create()
	if err != nil {
		return "", nil, 0, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return "", nil, 0, err
	}
	sum, n, err = w.Commit()
	return sum, nil, n, err
}

// filePersonal files messages in a personal folder of owner, and removes
// items from a personal folder (MOVE), in one transaction. It returns the
// folder and the new UIDs, in order.
func (x *index) filePersonal(owner, key string, msgs []newPersonal, q casestore.PersonalQuota, fromKey string, remove []string) (casestore.MailFolder, []imap.UID, error) {
	x.personalMu.Lock()
	defer x.personalMu.Unlock()
	var (
		f       casestore.MailFolder
		added   []casestore.MailEntry
		removed []casestore.MailEntry
		newKw   []string
	)
	err := x.store.Update(func(tx *casestore.Tx) error {
		added, removed, newKw = nil, nil, nil
		for _, item := range remove {
			uid, err := tx.MailRemove(fromKey, item)
			if err != nil {
				return err
			}
			if uid == 0 {
				// Expunged by another session since the MOVE began:
				// re-filing it would show a message that is gone.
				return fmt.Errorf("move %s: %w", item, errExpunged)
			}
			removed = append(removed, casestore.MailEntry{UID: uid, Item: item})
		}
		items := make([]string, 0, len(msgs))
		for _, m := range msgs {
			item := m.item
			if item == "" {
				pm, err := tx.AddPersonalMessage(owner, m.date, m.sum, m.size, m.inline, q)
				if err != nil {
					return err
				}
				item = personalItem(pm.ID)
				flags, kws, err := canonKeywords(tx, m.flags)
				if err != nil {
					return err
				}
				newKw = append(newKw, kws...)
				flags = applyFlags(nil, imap.StoreFlagsAdd, flags)
				if err := tx.SetMailFlags(item, flags); err != nil {
					return err
				}
			}
			items = append(items, item)
		}
		uids, err := tx.MailAppend(key, items...)
		if err != nil {
			return err
		}
		for i, item := range items {
			added = append(added, casestore.MailEntry{UID: uids[i], Item: item})
		}
		f, err = tx.MailFolder(key)
		return err
	})
	if err != nil {
		return f, nil, err
	}
	x.mu.Lock()
	x.announceKeywordsLocked(newKw)
	if m := x.live[fromKey]; m != nil && len(removed) > 0 {
		m.remove(removed)
	}
	if m := x.live[key]; m != nil {
		m.add(added)
	}
	x.mu.Unlock()
	uids := make([]imap.UID, len(added))
	for i, e := range added {
		uids[i] = imap.UID(e.UID)
	}
	return f, uids, nil
}

// expungePersonal deletes items from a personal folder for good.
func (x *index) expungePersonal(key string, items []string) error {
	x.personalMu.Lock()
	defer x.personalMu.Unlock()
	var (
		removed []casestore.MailEntry
		blobs   []string
	)
	err := x.store.Update(func(tx *casestore.Tx) error {
		removed, blobs = nil, nil
		for _, item := range items {
			id, ok := parsePersonalItem(item)
			if !ok {
				return fmt.Errorf("%s is not a personal message", item)
			}
			uid, err := tx.MailRemove(key, item)
			if err != nil {
				return err
			}
			if uid == 0 {
				continue
			}
			removed = append(removed, casestore.MailEntry{UID: uid, Item: item})
			sum, err := tx.DeletePersonalMessage(id)
			if err != nil && !errors.Is(err, casestore.ErrNotFound) {
				return err
			}
			if sum != "" {
				blobs = append(blobs, sum)
			}
			if err := tx.SetMailFlags(item, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, sum := range blobs {
		if err := x.store.Blobs.Remove(sum); err != nil {
			x.log.Warn("remove expunged blob", "sha256", sum, "err", err)
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].UID < removed[j].UID })
	x.mu.Lock()
	if m := x.live[key]; m != nil {
		m.remove(removed)
	}
	x.mu.Unlock()
	return nil
}

// canonKeywords turns canonical flags into what is stored, recording new
// keywords; it returns the stored flags and the keywords that are new.
func canonKeywords(tx *casestore.Tx, flags []imap.Flag) ([]string, []string, error) {
	var out, fresh []string
	for _, f := range flags {
		if !isKeyword(f) {
			out = append(out, string(f))
			continue
		}
		stored, isNew, err := tx.AddMailKeyword(string(f))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, stored)
		if isNew {
			fresh = append(fresh, stored)
		}
	}
	return out, fresh, nil
}

// announceKeywordsLocked adds new keywords to FLAGS and tells every live
// mailbox; x.mu is held.
func (x *index) announceKeywordsLocked(newKeywords []string) {
	if len(newKeywords) == 0 {
		return
	}
	x.keywords = mergeKeywords(x.keywords, newKeywords)
	caseFlags, personalFlags := x.mailboxFlagsLocked(false), x.mailboxFlagsLocked(true)
	for _, m := range x.live {
		if m.personal {
			m.setFlags(personalFlags)
		} else {
			m.setFlags(caseFlags)
		}
	}
}

func (s *session) quota() casestore.PersonalQuota {
	return casestore.PersonalQuota{Bytes: s.srv.cfg.PersonalQuotaBytes, Messages: s.srv.cfg.PersonalQuotaMessages}
}

func (s *session) overQuota() error {
	q := s.quota()
	return noErr(imap.ResponseCodeOverQuota, fmt.Sprintf("Your Sent, Drafts and Trash are full (at most %d MB and %d messages): delete messages there and expunge them, e.g. empty the Trash",
		q.Bytes>>20, q.Messages))
}

// personalFlags keeps what a personal folder stores of a message's flags.
func personalFlags(in []imap.Flag) ([]imap.Flag, error) {
	out := make([]imap.Flag, 0, len(in))
	for _, f := range in {
		cf, err := canonFlag(f, true)
		if err != nil {
			if isKeyword(f) {
				return nil, err
			}
			continue // \Recent and unknown system flags are not kept
		}
		out = append(out, cf)
	}
	return out, nil
}

// Append files a message in a personal folder; every other folder holds
// only case mail.
func (s *session) Append(name string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	key, err := s.destination(name)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, noErr(imap.ResponseCodeCannot, "Parley's case folders hold only case mail as it was received or sent; to write in a case, send mail to its mediator address (the Reply-To of any message in its folder). Your own copies go to Sent, Drafts or Trash")
	}
	var flags []imap.Flag
	date := time.Now()
	if opts != nil {
		if flags, err = personalFlags(opts.Flags); err != nil {
			return nil, err
		}
		if !opts.Time.IsZero() {
			date = opts.Time
		}
	}
	q := s.quota()
	var u casestore.PersonalUsage
	if err := s.srv.store.View(func(tx *casestore.Tx) (err error) { u, err = tx.PersonalUsage(s.user); return err }); err != nil {
		return nil, s.internalErr("append", err)
	}
	if u.Bytes+r.Size() > q.Bytes || u.Messages+1 > q.Messages {
		return nil, s.overQuota()
	}
	x := s.srv.idx
	sum, inline, n, err := x.stage(r, r.Size())
	if err != nil {
		return nil, s.internalErr("append", err)
	}
	f, uids, err := x.filePersonal(s.user, key, []newPersonal{{sum: sum, size: n, inline: inline, date: date, flags: flags}}, q, "", nil)
	if errors.Is(err, casestore.ErrOverQuota) {
		return nil, s.overQuota()
	}
	if err != nil {
		return nil, s.internalErr("append", err)
	}
	s.log.Debug("append", "folder", name, "uid", uids[0], "size", n)
	return &imap.AppendData{UID: uids[0], UIDValidity: f.UIDValidity}, nil
}

// Copy copies messages between personal folders. Case mail cannot be copied
// out: a copy would outlive the case's retention period, when the personal
// data of the case must be deleted. A COPY that names a message another
// session expunged copies nothing (RFC 3501 section 6.4.7: a failed COPY
// leaves the destination as it was) and answers NO [EXPUNGEISSUED].
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	key, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, noErr(imap.ResponseCodeCannot, "Parley's case folders hold only their own case mail; copy into your Sent, Drafts or Trash, or save a copy in your own account")
	}
	v := s.view
	if v == nil || !isPersonalKey(v.mbox.key) {
		return nil, noErr(imap.ResponseCodeCannot, "Case mail stays in its case folder, where it is deleted with the case at the end of the retention period; it cannot be copied out")
	}
	ts, gone := v.targets(numSet)
	_, byUID := numSet.(imap.UIDSet)
	if err := s.expungeIssued(gone, byUID, "nothing was copied"); err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, nil
	}
	x := s.srv.idx
	items := make([]string, len(ts))
	for i, t := range ts {
		items[i] = t.item
	}
	flags, err := x.flags(items)
	if err != nil {
		return nil, s.internalErr("copy", err)
	}
	// Read everything before staging anything, so a message expunged
	// meanwhile leaves no staged copy behind.
	cs := make([]*content, len(ts))
	for i, t := range ts {
		if cs[i], err = x.content(t.item); err != nil {
			if x.expunged(v.mbox.key, t.item) {
				return nil, s.expungeIssued(1, false, "nothing was copied")
			}
			return nil, s.internalErr("copy", fmt.Errorf("uid %d of %s: %w", t.uid, v.mbox.key, err))
		}
	}
	msgs := make([]newPersonal, 0, len(ts))
	var src imap.UIDSet
	for i, t := range ts {
		c := cs[i]
		sum, inline, n, err := x.stage(bytes.NewReader(c.buf), int64(len(c.buf)))
		if err != nil {
			return nil, s.internalErr("copy", err)
		}
		fl, _ := personalFlags(flags[t.item])
		msgs = append(msgs, newPersonal{sum: sum, size: n, inline: inline, date: c.date, flags: fl})
		src.AddNum(t.uid)
	}
	f, uids, err := x.filePersonal(s.user, key, msgs, s.quota(), "", nil)
	if errors.Is(err, casestore.ErrOverQuota) {
		return nil, s.overQuota()
	}
	if err != nil {
		return nil, s.internalErr("copy", err)
	}
	return &imap.CopyData{UIDValidity: f.UIDValidity, SourceUIDs: src, DestUIDs: imap.UIDSetNum(uids...)}, nil
}

// Move re-files messages from one personal folder to another. Case mail is
// evidence and stays where it is. A MOVE that names a message another
// session expunged moves nothing and answers NO [EXPUNGEISSUED].
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	key, err := s.destination(dest)
	if err != nil {
		return err
	}
	v := s.view
	if !isPersonalKey(v.mbox.key) {
		return noErr(imap.ResponseCodeCannot, "Messages in Parley's case folders are case evidence and cannot be moved; COPY them to Sent, Drafts or Trash instead")
	}
	if key == "" {
		return noErr(imap.ResponseCodeCannot, "Messages of your own folders can only be moved to Sent, Drafts or Trash")
	}
	if v.readOnly {
		return noErr(imap.ResponseCodeCannot, "The folder was opened with EXAMINE (read-only)")
	}
	ts, gone := v.targets(numSet)
	_, byUID := numSet.(imap.UIDSet)
	if err := s.expungeIssued(gone, byUID, "nothing was moved"); err != nil {
		return err
	}
	if len(ts) == 0 {
		return nil
	}
	msgs := make([]newPersonal, len(ts))
	items := make([]string, len(ts))
	var src imap.UIDSet
	for i, t := range ts {
		msgs[i] = newPersonal{item: t.item}
		items[i] = t.item
		src.AddNum(t.uid)
	}
	f, uids, err := s.srv.idx.filePersonal(s.user, key, msgs, s.quota(), v.mbox.key, items)
	if errors.Is(err, errExpunged) {
		return s.expungeIssued(1, false, "nothing was moved")
	}
	if err != nil {
		return s.internalErr("move", err)
	}
	// The EXPUNGEs follow from the poll at the command's end.
	return w.WriteCopyData(&imap.CopyData{UIDValidity: f.UIDValidity, SourceUIDs: src, DestUIDs: imap.UIDSetNum(uids...)})
}

// Expunge removes the messages marked \Deleted from a personal folder (CLOSE
// too). Case folders never hold \Deleted messages (STORE refuses it there and
// PERMANENTFLAGS leaves it out), so EXPUNGE and CLOSE remove nothing there
// and answer OK, which is what RFC 3501 section 6.4.3 asks of a folder with
// nothing to expunge. mutt's sync ($) sends EXPUNGE after storing flags in
// every folder, and shows any NO as an error ("EXPUNGE failed").
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	closing := w == nil || *w == (imapserver.ExpungeWriter{})
	v := s.view
	if v == nil || !isPersonalKey(v.mbox.key) {
		return nil
	}
	if v.readOnly {
		if closing {
			return nil
		}
		return noErr(imap.ResponseCodeCannot, "The folder was opened with EXAMINE (read-only)")
	}
	var ts []target
	if uids != nil {
		ts, _ = v.targets(*uids) // "*" resolved
	} else {
		ts = v.all()
	}
	items := make([]string, 0, len(ts))
	for _, t := range ts {
		items = append(items, t.item)
	}
	x := s.srv.idx
	flags, err := x.flags(items)
	if err != nil {
		return s.internalErr("expunge", err)
	}
	deleted := items[:0]
	for _, item := range items {
		if hasFlag(flags[item], imap.FlagDeleted) {
			deleted = append(deleted, item)
		}
	}
	if len(deleted) == 0 {
		return nil
	}
	if err := x.expungePersonal(v.mbox.key, deleted); err != nil {
		return s.internalErr("expunge", err)
	}
	s.log.Debug("expunge", "folder", v.mbox.key, "messages", len(deleted))
	return nil
}

// sweepPersonal expunges personal messages older than retention in every
// mediator's personal folders: they hold case content (sent replies, drafts)
// and must not outlive the cases' own retention period.
func (x *index) sweepPersonal(retention time.Duration, now time.Time) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-retention)
	var mediators []casestore.Mediator
	if err := x.store.View(func(tx *casestore.Tx) (err error) { mediators, err = tx.Mediators(); return err }); err != nil {
		return 0, err
	}
	swept := 0
	for _, m := range mediators {
		for _, f := range personalFolders {
			key := personalFolderKey(m.Email, f.name)
			var old []string
			err := x.store.View(func(tx *casestore.Tx) error {
				entries, err := tx.MailEntries(key)
				if err != nil {
					return err
				}
				for _, e := range entries {
					id, ok := parsePersonalItem(e.Item)
					if !ok {
						continue
					}
					if pm, err := tx.PersonalMessage(id); err == nil && pm.Date.Before(cutoff) {
						old = append(old, e.Item)
					}
				}
				return nil
			})
			if err != nil {
				return swept, fmt.Errorf("sweep %s: %w", key, err)
			}
			if len(old) == 0 {
				continue
			}
			if err := x.expungePersonal(key, old); err != nil {
				return swept, fmt.Errorf("sweep %s: %w", key, err)
			}
			swept += len(old)
		}
	}
	return swept, nil
}
