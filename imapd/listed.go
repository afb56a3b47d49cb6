package imapd

import (
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
	"parley/threading"
)

// Which case folders LIST shows. A store of a million closed cases would
// give a million folders no mail client can use, and keeping them all in
// memory would cost the daemon hundreds of MB. So LIST shows every case not
// closed and only the closedFolders most recently closed ones, and the index
// holds just those. An older closed case's folder is still there: SELECT,
// EXAMINE, STATUS, SUBSCRIBE and a LIST of its exact name find it by its
// full name (Closed/ID-Trader) or by Closed/ID alone, and its Quarantine
// subfolder under either name. Cases/ID and Closed/ID also name a listed
// case's folder, for a mediator who knows the id but not the trader's name.

// caseIDLen is the length of a case id (threading.NewCaseID).
const caseIDLen = 8

// closedTime is what orders closed cases: their closing time, or for a case
// closed without one recorded, its opening time (a stable stand-in); zero
// for a case not closed.
func closedTime(c *casestore.Case) time.Time {
	switch {
	case c.State != casestore.StateClosed:
		return time.Time{}
	case !c.Closed.IsZero():
		return c.Closed
	default:
		return c.Created
	}
}

// newestClosedFirst orders closed cases as casestore.MailListed does.
func newestClosedFirst(a, b casestore.MailCase) int {
	if c := b.ClosedAt.Compare(a.ClosedAt); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// trimLocked drops the cases LIST does not show from memory: purged ones,
// and closed ones beyond the closedFolders most recently closed; x.mu is
// held.
func (x *index) trimLocked() {
	var closed []casestore.MailCase
	for id, mc := range x.cases {
		switch {
		case mc.Purged:
			delete(x.cases, id)
		case mc.Closed:
			closed = append(closed, mc)
		}
	}
	if len(closed) <= x.closedFolders {
		return
	}
	slices.SortFunc(closed, newestClosedFirst)
	for _, mc := range closed[x.closedFolders:] {
		delete(x.cases, mc.ID)
	}
}

// caseFolders are the LIST entries of a case's folder, named name, and of
// its Quarantine subfolder if it has one.
func caseFolders(mc casestore.MailCase, name string) []folderEntry {
	f := folderEntry{name: name, key: caseFolderKey(mc.ID), attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}}
	if !mc.Quarantine {
		return []folderEntry{f}
	}
	f.attrs = []imap.MailboxAttr{imap.MailboxAttrHasChildren}
	return []folderEntry{f, {name: name + string(delim) + quarantineName, key: quarantineFolderKey(mc.ID),
		attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}}}
}

// unlisted finds a case folder by a name LIST does not show: the full name
// of a closed case not listed, or ROOT/ID of any case under its root, each
// with its Quarantine subfolder. It reads at most one case from the index
// file.
func (x *index) unlisted(name string) (folderEntry, bool) {
	root, rest, ok := strings.Cut(name, string(delim))
	if !ok || (root != casesRoot && root != closedRoot) || len(rest) < caseIDLen || !threading.ValidCaseID(rest[:caseIDLen]) {
		return folderEntry{}, false
	}
	mc, ok := x.mailCase(rest[:caseIDLen])
	if !ok || mc.Purged || mc.Closed != (root == closedRoot) {
		return folderEntry{}, false
	}
	for _, base := range []string{folderName(mc), root + string(delim) + mc.ID} {
		for _, f := range caseFolders(mc, base) {
			if f.name == name {
				return f, true
			}
		}
	}
	return folderEntry{}, false
}

// mailCase returns what the index saw of a case: from memory if listed,
// else from the index file.
func (x *index) mailCase(id string) (casestore.MailCase, bool) {
	x.mu.Lock()
	mc, ok := x.cases[id]
	x.mu.Unlock()
	if ok {
		return mc, true
	}
	err := x.store.View(func(tx *casestore.Tx) (err error) {
		mc, err = tx.MailCase(id)
		return err
	})
	return mc, err == nil
}
