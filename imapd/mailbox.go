package imapd

import (
	"sort"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"parley/casestore"
)

// mailbox is a folder some session has selected: its messages in UID order,
// and the go-imap tracker that queues updates for each session's view.
//
// The tracker's sequence-number translation reads state that only changes
// under mu, so every EncodeSeqNum, QueueNumMessages and QueueExpunge call
// happens with mu held.
type mailbox struct {
	key         string
	uidValidity uint32
	tracker     *imapserver.MailboxTracker
	refs        int // guarded by index.mu

	mu      sync.Mutex
	uids    []imap.UID
	items   []string
	byItem  map[string]imap.UID
	uidNext imap.UID
	views   map[*view]struct{}
}

func newMailbox(f casestore.MailFolder, entries []casestore.MailEntry) *mailbox {
	m := &mailbox{
		key: f.Key, uidValidity: f.UIDValidity, uidNext: imap.UID(f.UIDNext),
		uids: make([]imap.UID, 0, len(entries)), items: make([]string, 0, len(entries)),
		byItem: make(map[string]imap.UID, len(entries)), views: make(map[*view]struct{}),
	}
	for _, e := range entries {
		m.uids = append(m.uids, imap.UID(e.UID))
		m.items = append(m.items, e.Item)
		m.byItem[e.Item] = imap.UID(e.UID)
	}
	m.tracker = imapserver.NewMailboxTracker(uint32(len(m.uids)))
	return m
}

// add appends new entries (UIDs above every UID seen so far; others were
// already loaded) and queues an EXISTS for each.
func (m *mailbox) add(es []casestore.MailEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range es {
		uid := imap.UID(e.UID)
		if uid < m.uidNext {
			continue
		}
		m.uids = append(m.uids, uid)
		m.items = append(m.items, e.Item)
		m.byItem[e.Item] = uid
		m.uidNext = uid + 1
		// One EXISTS per message: go-imap's sequence translation assumes
		// the count grows by one per update.
		m.tracker.QueueNumMessages(uint32(len(m.uids)))
		m.wakeLocked()
	}
}

// remove drops entries and queues an EXPUNGE for each.
func (m *mailbox) remove(es []casestore.MailEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range es {
		i := m.indexOf(imap.UID(e.UID))
		if i < 0 {
			continue
		}
		m.uids = append(m.uids[:i], m.uids[i+1:]...)
		m.items = append(m.items[:i], m.items[i+1:]...)
		delete(m.byItem, e.Item)
		m.tracker.QueueExpunge(uint32(i + 1))
		m.wakeLocked()
	}
}

// newView registers a session's selection; m.mu is held.
func (m *mailbox) newViewLocked(readOnly bool) *view {
	v := &view{mbox: m, tracker: m.tracker.NewSession(), readOnly: readOnly, wake: make(chan struct{}, 1)}
	m.views[v] = struct{}{}
	return v
}

// closeView ends a session's selection.
func (m *mailbox) closeView(v *view) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.views, v)
	v.tracker.Close()
}

// wakeLocked tells idling sessions that updates are queued; m.mu is held.
// go-imap's own SessionTracker.Idle misses updates queued between the
// client's IDLE and its start, so sessions idle on this signal instead.
func (m *mailbox) wakeLocked() {
	for v := range m.views {
		select {
		case v.wake <- struct{}{}:
		default:
		}
	}
}

// queueMailboxFlags sends a new FLAGS list to every session.
func (m *mailbox) queueMailboxFlags(flags []imap.Flag) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tracker.QueueMailboxFlags(flags)
	m.wakeLocked()
}

// indexOf returns the position of uid, or -1; m.mu is held.
func (m *mailbox) indexOf(uid imap.UID) int {
	i := sort.Search(len(m.uids), func(i int) bool { return m.uids[i] >= uid })
	if i < len(m.uids) && m.uids[i] == uid {
		return i
	}
	return -1
}

// flagsChanged queues FETCH FLAGS for the changed items this mailbox shows.
// The session that made the change gets its answer directly, not again.
func (m *mailbox) flagsChanged(changed map[string]bool, final map[string][]imap.Flag, source *view) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var skip *imapserver.SessionTracker
	if source != nil && source.mbox == m {
		skip = source.tracker
	}
	type upd struct {
		i    int
		item string
	}
	var ups []upd
	for item := range changed {
		if uid, ok := m.byItem[item]; ok {
			ups = append(ups, upd{m.indexOf(uid), item})
		}
	}
	sort.Slice(ups, func(a, b int) bool { return ups[a].i < ups[b].i })
	for _, u := range ups {
		m.tracker.QueueMessageFlags(uint32(u.i+1), m.uids[u.i], final[u.item], skip)
	}
	if len(ups) > 0 {
		m.wakeLocked()
	}
}

// view is one session's selection of a mailbox.
type view struct {
	mbox      *mailbox
	tracker   *imapserver.SessionTracker
	readOnly  bool
	searchRes imap.UIDSet
	wake      chan struct{} // a token when updates are queued
}

// idle writes queued updates as they come until stop is closed.
func (v *view) idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := v.tracker.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-v.wake:
		}
	}
}

// target is a message a command applies to: its sequence number as the
// server and as the client sees it, its UID and its item.
type target struct {
	seq    uint32
	client uint32
	uid    imap.UID
	item   string
}

// targets resolves a sequence or UID set to the messages the client knows.
func (v *view) targets(numSet imap.NumSet) []target {
	m := v.mbox
	m.mu.Lock()
	defer m.mu.Unlock()
	return v.targetsLocked(numSet)
}

func (v *view) targetsLocked(numSet imap.NumSet) []target {
	m := v.mbox
	numSet = v.staticNumSetLocked(numSet)
	var out []target
	for i, uid := range m.uids {
		seq := uint32(i + 1)
		client := v.tracker.EncodeSeqNum(seq)
		if client == 0 {
			continue // the client has not been told about it yet
		}
		var in bool
		switch set := numSet.(type) {
		case imap.SeqSet:
			in = set.Contains(client)
		case imap.UIDSet:
			in = set.Contains(uid)
		}
		if in {
			out = append(out, target{seq: seq, client: client, uid: uid, item: m.items[i]})
		}
	}
	return out
}

// all returns every message the client knows.
func (v *view) all() []target {
	m := v.mbox
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]target, 0, len(m.uids))
	for i, uid := range m.uids {
		seq := uint32(i + 1)
		if client := v.tracker.EncodeSeqNum(seq); client != 0 {
			out = append(out, target{seq: seq, client: client, uid: uid, item: m.items[i]})
		}
	}
	return out
}

// staticNumSetLocked replaces "*" by the largest number and "$" by the
// saved search result; m.mu is held.
func (v *view) staticNumSetLocked(numSet imap.NumSet) imap.NumSet {
	if imap.IsSearchRes(numSet) {
		return append(imap.UIDSet(nil), v.searchRes...)
	}
	m := v.mbox
	switch set := numSet.(type) {
	case imap.SeqSet:
		out := append(imap.SeqSet(nil), set...)
		max := uint32(len(m.uids))
		for i := range out {
			staticRange(&out[i].Start, &out[i].Stop, max)
		}
		return out
	case imap.UIDSet:
		out := append(imap.UIDSet(nil), set...)
		max := uint32(m.uidNext) - 1
		if n := len(m.uids); n > 0 {
			max = uint32(m.uids[n-1])
		}
		for i := range out {
			staticRange((*uint32)(&out[i].Start), (*uint32)(&out[i].Stop), max)
		}
		return out
	}
	return numSet
}

func staticRange(start, stop *uint32, max uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = max, true
	}
	if *stop == 0 {
		*stop, dyn = max, true
	}
	if dyn && *start > *stop {
		*start, *stop = *stop, *start
	}
}
