package imapd

import (
	"slices"
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
)

// mailbox is a folder some session has selected: its messages in UID order,
// its FLAGS, and the sessions that have it selected (views).
//
// Parley keeps the sessions' views itself instead of using go-imap's
// MailboxTracker: the tracker has no \Recent (RFC 3501 section 2.3.2), cannot
// announce FLAGS ahead of a FETCH it did not queue itself, and loses the
// client's view of the folder ("*", and which message a sequence number
// names once another session expunged it).
type mailbox struct {
	key         string
	personal    bool
	uidValidity uint32
	refs        int // guarded by index.mu

	mu      sync.Mutex
	uids    []imap.UID
	items   []string
	byItem  map[string]imap.UID
	uidNext imap.UID
	// recentNext is the first UID no read-write session has been told of;
	// recentSaved is what the index file holds (recent.go).
	recentNext, recentSaved imap.UID
	flags                   []imap.Flag // FLAGS: only ever grows
	views                   map[*view]struct{}
}

func newMailbox(f casestore.MailFolder, entries []casestore.MailEntry, flags []imap.Flag, recentNext imap.UID) *mailbox {
	m := &mailbox{
		key: f.Key, personal: isPersonalKey(f.Key), uidValidity: f.UIDValidity, uidNext: imap.UID(f.UIDNext),
		recentNext: recentNext, recentSaved: imap.UID(f.RecentUID), flags: flags,
		uids: make([]imap.UID, 0, len(entries)), items: make([]string, 0, len(entries)),
		byItem: make(map[string]imap.UID, len(entries)), views: make(map[*view]struct{}),
	}
	for _, e := range entries {
		m.uids = append(m.uids, imap.UID(e.UID))
		m.items = append(m.items, e.Item)
		m.byItem[e.Item] = imap.UID(e.UID)
	}
	return m
}

// add appends new entries (UIDs above every UID seen so far; others were
// already loaded). Sessions learn of them at their next poll.
func (m *mailbox) add(es []casestore.MailEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	added := false
	for _, e := range es {
		uid := imap.UID(e.UID)
		if uid < m.uidNext {
			continue
		}
		m.uids = append(m.uids, uid)
		m.items = append(m.items, e.Item)
		m.byItem[e.Item] = uid
		m.uidNext = uid + 1
		added = true
	}
	if added {
		m.wakeLocked()
	}
}

// remove drops entries. Each session's EXPUNGE comes from its own poll, when
// the command it runs allows one (RFC 3501 section 7.4.1).
func (m *mailbox) remove(es []casestore.MailEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	removed := false
	for _, e := range es {
		i := m.indexOf(imap.UID(e.UID))
		if i < 0 {
			continue
		}
		m.uids = slices.Delete(m.uids, i, i+1)
		m.items = slices.Delete(m.items, i, i+1)
		delete(m.byItem, e.Item)
		removed = true
	}
	if removed {
		m.wakeLocked()
	}
}

// setFlags replaces FLAGS (a keyword was added); every session announces it
// at its next poll, before any FETCH that shows the keyword.
func (m *mailbox) setFlags(flags []imap.Flag) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flags = flags
	m.wakeLocked()
}

// flagsChanged marks changed items for a FETCH FLAGS in every session that
// shows them. The session that made the change answers its own command, so
// it is skipped.
func (m *mailbox) flagsChanged(changed map[string]bool, source *view) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var uids []imap.UID
	for item := range changed {
		if uid, ok := m.byItem[item]; ok {
			uids = append(uids, uid)
		}
	}
	if len(uids) == 0 {
		return
	}
	for v := range m.views {
		if v == source {
			continue
		}
		for _, uid := range uids {
			v.changed[uid] = true
		}
	}
	m.wakeLocked()
}

// wakeLocked tells idling sessions that there is news; m.mu is held.
func (m *mailbox) wakeLocked() {
	for v := range m.views {
		select {
		case v.wake <- struct{}{}:
		default:
		}
	}
}

// indexOf returns the position of uid, or -1; m.mu is held.
func (m *mailbox) indexOf(uid imap.UID) int {
	i := sort.Search(len(m.uids), func(i int) bool { return m.uids[i] >= uid })
	if i < len(m.uids) && m.uids[i] == uid {
		return i
	}
	return -1
}

// newViewLocked registers a session's selection; m.mu is held. The client
// starts out knowing every message and the current FLAGS.
func (m *mailbox) newViewLocked(readOnly bool) *view {
	v := &view{
		mbox: m, readOnly: readOnly, wake: make(chan struct{}, 1), uids: slices.Clone(m.uids),
		changed: make(map[imap.UID]bool), recent: make(map[imap.UID]bool),
	}
	v.flagsSentLocked(m.flags)
	m.views[v] = struct{}{}
	return v
}

// closeView ends a session's selection.
func (m *mailbox) closeView(v *view) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.views, v)
}
