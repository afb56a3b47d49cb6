package imapd

import (
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// view is one session's selection of a mailbox: the folder as its client
// knows it. Sequence numbers are positions in uids; a message another session
// expunged stays there until this session may send its EXPUNGE.
//
// The session's own goroutine (commands, or Idle while the command goroutine
// waits for DONE) is the only one touching uids, recent, sent and searchRes;
// changed is written by other sessions under mbox.mu.
type view struct {
	mbox      *mailbox
	readOnly  bool
	wake      chan struct{} // a token when there is news
	searchRes imap.UIDSet

	uids   []imap.UID        // the client's messages, by sequence number
	recent map[imap.UID]bool // \Recent in this session (recent.go)
	sent   map[string]bool   // the flags of the last FLAGS sent, lower-cased

	changed map[imap.UID]bool // FETCH FLAGS due; guarded by mbox.mu
}

// target is a message a command applies to: its sequence number as the
// client knows it, its UID and its item.
type target struct {
	client uint32
	uid    imap.UID
	item   string
}

// targets resolves a sequence or UID set to the client's messages that
// still exist; gone counts those in the set another session expunged (the
// client has not been told yet).
func (v *view) targets(numSet imap.NumSet) (out []target, gone int) {
	m := v.mbox
	m.mu.Lock()
	defer m.mu.Unlock()
	numSet = v.staticNumSetLocked(numSet)
	for i, uid := range v.uids {
		client := uint32(i + 1)
		var in bool
		switch set := numSet.(type) {
		case imap.SeqSet:
			in = set.Contains(client)
		case imap.UIDSet:
			in = set.Contains(uid)
		}
		if !in {
			continue
		}
		j := m.indexOf(uid)
		if j < 0 {
			gone++
			continue
		}
		out = append(out, target{client: client, uid: uid, item: m.items[j]})
	}
	return out, gone
}

// all returns every message the client knows that still exists.
func (v *view) all() []target {
	m := v.mbox
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]target, 0, len(v.uids))
	for i, uid := range v.uids {
		if j := m.indexOf(uid); j >= 0 {
			out = append(out, target{client: uint32(i + 1), uid: uid, item: m.items[j]})
		}
	}
	return out
}

// staticNumSetLocked replaces "*" by the largest number the client knows
// (RFC 3501 section 6.4.8) and "$" by the saved search result; m.mu is held.
func (v *view) staticNumSetLocked(numSet imap.NumSet) imap.NumSet {
	if imap.IsSearchRes(numSet) {
		return append(imap.UIDSet(nil), v.searchRes...)
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		out := append(imap.SeqSet(nil), set...)
		max := uint32(len(v.uids))
		for i := range out {
			staticRange(&out[i].Start, &out[i].Stop, max)
		}
		return out
	case imap.UIDSet:
		out := append(imap.UIDSet(nil), set...)
		max := uint32(v.mbox.uidNext) - 1
		if n := len(v.uids); n > 0 {
			max = uint32(v.uids[n-1])
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

// seqOf returns the client's sequence number of uid, or 0.
func (v *view) seqOf(uid imap.UID) uint32 {
	if i, ok := slices.BinarySearch(v.uids, uid); ok {
		return uint32(i + 1)
	}
	return 0
}

// flagsStale reports whether a keyword was added since the client was last
// sent FLAGS; a FETCH must not show it before the FLAGS that announces it
// (RFC 3501 section 7.2.6: FLAGS lists the flags "applicable" in the folder).
func (v *view) flagsStale() bool {
	v.mbox.mu.Lock()
	defer v.mbox.mu.Unlock()
	return len(v.sent) != len(v.mbox.flags)
}

// flagsSentLocked records that the client was sent FLAGS fs; mbox.mu is held.
func (v *view) flagsSentLocked(fs []imap.Flag) {
	v.sent = make(map[string]bool, len(fs))
	for _, f := range fs {
		v.sent[strings.ToLower(string(f))] = true
	}
}

// knownFlags keeps of fs the flags the client was told of, and reports
// whether it dropped a keyword; the FETCH FLAGS queued for the next poll then
// shows the whole list, after the FLAGS that announces it.
func (v *view) knownFlags(fs []imap.Flag) ([]imap.Flag, bool) {
	out := make([]imap.Flag, 0, len(fs))
	dropped := false
	for _, f := range fs {
		if isKeyword(f) && !v.sent[strings.ToLower(string(f))] {
			dropped = true
			continue
		}
		out = append(out, f)
	}
	return out, dropped
}

// markChanged queues a FETCH FLAGS of uids for this session's next poll.
func (v *view) markChanged(uids ...imap.UID) {
	v.mbox.mu.Lock()
	defer v.mbox.mu.Unlock()
	for _, uid := range uids {
		v.changed[uid] = true
	}
}

// update is what one poll tells the client.
type update struct {
	flags    []imap.Flag // FLAGS, when it changed
	expunges []uint32    // EXPUNGE sequence numbers, in the order to send
	exists   uint32      // EXISTS, when new messages came
	newMail  bool
	fetch    []target // FETCH FLAGS
}

// collect works out, under the mailbox lock, what the client must be told
// and moves the view to the state it will have once told.
func (v *view) collect(allowExpunge bool) update {
	m := v.mbox
	m.mu.Lock()
	defer m.mu.Unlock()
	var u update
	// FLAGS only grows (keywords are never removed), and no two of its
	// flags are equal but for case, so a new length means a new keyword.
	if len(v.sent) != len(m.flags) {
		u.flags = slices.Clone(m.flags)
		v.flagsSentLocked(u.flags)
	}
	if allowExpunge {
		kept := v.uids[:0:0]
		for _, uid := range v.uids {
			if m.indexOf(uid) >= 0 {
				kept = append(kept, uid)
				continue
			}
			// The sequence number as the client has it after the EXPUNGEs
			// already sent in this poll (RFC 3501 section 7.4.1).
			u.expunges = append(u.expunges, uint32(len(kept)+1))
			delete(v.recent, uid)
			delete(v.changed, uid)
		}
		if len(u.expunges) > 0 {
			v.uids = kept
		}
	}
	var last imap.UID
	if n := len(v.uids); n > 0 {
		last = v.uids[n-1]
	}
	if i := sort.Search(len(m.uids), func(i int) bool { return m.uids[i] > last }); i < len(m.uids) {
		for _, uid := range m.uids[i:] {
			v.uids = append(v.uids, uid)
			v.noteRecentLocked(uid)
		}
		u.exists, u.newMail = uint32(len(v.uids)), true
	}
	for uid := range v.changed {
		j := m.indexOf(uid)
		seq := v.seqOf(uid)
		if j < 0 || seq == 0 {
			continue // gone, or new to the client: it fetches the flags itself
		}
		u.fetch = append(u.fetch, target{client: seq, uid: uid, item: m.items[j]})
	}
	clear(v.changed)
	slices.SortFunc(u.fetch, func(a, b target) int { return int(a.client) - int(b.client) })
	return u
}

// poll tells the client what changed since its last poll: FLAGS first (so no
// FETCH shows a keyword the client was not told of), then EXPUNGEs when the
// command allows them, then EXISTS and RECENT, then FETCH FLAGS.
func (v *view) poll(x *index, w *imapserver.UpdateWriter, allowExpunge bool) error {
	u := v.collect(allowExpunge)
	var flags map[string][]imap.Flag
	if len(u.fetch) > 0 {
		items := make([]string, len(u.fetch))
		for i, t := range u.fetch {
			items[i] = t.item
		}
		var err error
		if flags, err = x.flags(items); err != nil {
			// Tell the rest now and these at the next poll.
			x.log.Error("poll flags", "folder", v.mbox.key, "err", err)
			for _, t := range u.fetch {
				v.markChanged(t.uid)
			}
			u.fetch = nil
		}
	}
	if u.flags != nil {
		if err := w.WriteMailboxFlags(u.flags); err != nil {
			return err
		}
	}
	for _, seq := range u.expunges {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	if u.newMail {
		if err := w.WriteNumMessages(u.exists); err != nil {
			return err
		}
		if err := w.WriteNumRecent(v.recentCount()); err != nil {
			return err
		}
	}
	for _, t := range u.fetch {
		if err := w.WriteMessageFlags(t.client, t.uid, v.withRecent(t.uid, flags[t.item])); err != nil {
			return err
		}
	}
	return nil
}

// idle writes updates as they come until stop is closed.
func (v *view) idle(x *index, w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := v.poll(x, w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-v.wake:
		}
	}
}
