package imapd

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
)

// \Recent (RFC 3501 section 2.3.2): a message is recent to the first session
// told of it, by SELECT or by an EXISTS, and to no later one. Each folder
// keeps the first UID no read-write session has been told of (recentNext);
// the session that is told of a message at or above it takes it, and moves
// recentNext past it. EXAMINE shows what is recent without taking it, as the
// RFC asks of read-only sessions. Which of two sessions with the folder
// selected takes a new message is up to which polls first, which the RFC
// leaves undefined.
//
// recentNext lives in the live mailbox, then in index.recent once the last
// session leaves the folder. The poller writes what moved to the index file
// (MailFolder.RecentUID) once per interval, in one commit for all folders,
// and Shutdown once more after the last session ended: a SELECT or a new
// message never waits for a commit of its own. After a crash the messages
// taken in the last interval are recent once more, which the RFC prefers to
// the opposite ("SHOULD be considered recent").

// flagRecent is the flag IMAP4rev2 dropped; go-imap's parser maps SEARCH
// RECENT, NEW and OLD to it.
const flagRecent imap.Flag = `\Recent`

// noteRecentLocked records that the client is being told of uid, which is
// recent to it if no read-write session was told first; mbox.mu is held.
func (v *view) noteRecentLocked(uid imap.UID) {
	m := v.mbox
	if uid < m.recentNext {
		return
	}
	v.recent[uid] = true
	if !v.readOnly {
		m.recentNext = uid + 1
	}
}

// selectRecentLocked marks the messages of a new selection that are recent
// to it and returns how many; mbox.mu is held.
func (v *view) selectRecentLocked() (n uint32) {
	m := v.mbox
	for _, uid := range m.uids {
		if uid >= m.recentNext {
			v.recent[uid] = true
			n++
		}
	}
	if !v.readOnly {
		m.recentNext = max(m.recentNext, m.uidNext)
	}
	return n
}

// recentCount is RECENT: the messages the client knows that are recent here.
func (v *view) recentCount() uint32 {
	return uint32(len(v.recent))
}

// withRecent adds \Recent to a message's flags in the session it is recent
// to; it is never stored, so STORE cannot set or clear it.
func (v *view) withRecent(uid imap.UID, fs []imap.Flag) []imap.Flag {
	if !v.recent[uid] {
		return fs
	}
	return append(append(make([]imap.Flag, 0, len(fs)+1), fs...), flagRecent)
}

// recentFrom is the folder's first unclaimed UID: the live mailbox's, else
// the one kept since the last session left, else the stored one; x.mu is
// held.
func (x *index) recentFromLocked(f casestore.MailFolder) imap.UID {
	if m := x.live[f.Key]; m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.recentNext
	}
	if uid, ok := x.recent[f.Key]; ok {
		return uid
	}
	return imap.UID(f.RecentUID)
}

// saveRecent writes to the index file the first unclaimed UID of every
// folder where it moved since the last write.
func (x *index) saveRecent() error {
	type move struct {
		m    *mailbox // nil once released
		key  string
		next imap.UID
	}
	var moves []move
	x.mu.Lock()
	for key, m := range x.live {
		m.mu.Lock()
		if m.recentNext > m.recentSaved {
			moves = append(moves, move{m, key, m.recentNext})
		}
		m.mu.Unlock()
	}
	for key, next := range x.recentDirty {
		moves = append(moves, move{nil, key, next})
	}
	x.mu.Unlock()
	if len(moves) == 0 {
		return nil
	}
	err := x.store.Update(func(tx *casestore.Tx) error {
		for _, mv := range moves {
			err := tx.SetMailRecent(mv.key, uint32(mv.next))
			if err != nil && !errors.Is(err, casestore.ErrNotFound) { // a purged case's folder
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save recent messages of %d folders: %w", len(moves), err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, mv := range moves {
		if mv.m != nil {
			mv.m.mu.Lock()
			mv.m.recentSaved = max(mv.m.recentSaved, mv.next)
			mv.m.mu.Unlock()
		} else if x.recentDirty[mv.key] == mv.next {
			delete(x.recentDirty, mv.key)
		}
	}
	return nil
}
