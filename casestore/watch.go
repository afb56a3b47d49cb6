package casestore

import (
	"slices"
	"strings"
	"sync"
)

// A Watch learns which cases the store's commits changed, so a reader that
// mirrors cases (the IMAP index) updates just those, without re-reading every
// case to find them. A commit changes a case when it writes the case record,
// one of its messages or one of its outbound rows; the messages are named,
// so a busy case costs the reader its new messages, not all of them.
// Changes are kept until taken; Changed is signalled once for any number.
type Watch struct {
	s       *Store
	mu      sync.Mutex
	pending map[string]map[uint64]struct{} // case -> messages written
	through uint64                         // change log sequence of the last commit announced
	signal  chan struct{}
}

// Change is what commits changed of one case: the messages written (in id
// order), besides the case record or its outbound rows, which a reader
// compares itself.
type Change struct {
	Case     string
	Messages []uint64
}

// Watch registers a watcher; it sees every commit from now on.
func (s *Store) Watch() *Watch {
	w := &Watch{s: s, pending: make(map[string]map[uint64]struct{}), signal: make(chan struct{}, 1)}
	s.watchMu.Lock()
	s.watches = append(s.watches, w)
	s.watchMu.Unlock()
	return w
}

// Changed receives a value when cases changed since the last Take.
func (w *Watch) Changed() <-chan struct{} { return w.signal }

// Pending reports whether changes wait to be taken.
func (w *Watch) Pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) > 0
}

// Take returns the cases changed since the last Take, sorted by case, and
// forgets them.
func (w *Watch) Take() []Change {
	out, _ := w.TakeThrough()
	return out
}

// TakeThrough is Take, and the change log sequence (changes.go) of the last
// commit announced: every commit up to it is in what this Take or an
// earlier one returned (or in what was requeued since).
func (w *Watch) TakeThrough() ([]Change, uint64) {
	w.mu.Lock()
	through := w.through
	out := make([]Change, 0, len(w.pending))
	for id, msgs := range w.pending {
		ch := Change{Case: id, Messages: make([]uint64, 0, len(msgs))}
		for m := range msgs {
			ch.Messages = append(ch.Messages, m)
		}
		slices.Sort(ch.Messages)
		out = append(out, ch)
	}
	clear(w.pending)
	w.mu.Unlock()
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Case, b.Case) })
	return out, through
}

// Requeue gives back changes a reader took but could not process, so the
// next Take returns them again.
func (w *Watch) Requeue(changes []Change) {
	if len(changes) > 0 {
		w.add(changes, 0)
	}
}

// Close stops the watcher.
func (w *Watch) Close() {
	s := w.s
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for i, o := range s.watches {
		if o == w {
			s.watches = append(s.watches[:i], s.watches[i+1:]...)
			return
		}
	}
}

func (w *Watch) add(changes []Change, through uint64) {
	w.mu.Lock()
	w.through = max(w.through, through)
	for _, ch := range changes {
		msgs := w.pending[ch.Case]
		if msgs == nil {
			msgs = make(map[uint64]struct{}, len(ch.Messages))
			w.pending[ch.Case] = msgs
		}
		for _, m := range ch.Messages {
			msgs[m] = struct{}{}
		}
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// touch records that the transaction changed a case (its record or its
// outbound rows).
func (t *Tx) touch(caseID string) {
	if caseID == "" {
		return
	}
	if t.touched == nil {
		t.touched = make(map[string]map[uint64]struct{})
	}
	if t.touched[caseID] == nil {
		t.touched[caseID] = make(map[uint64]struct{})
	}
}

// touchMessage records that the transaction wrote a message of a case.
func (t *Tx) touchMessage(caseID string, id uint64) {
	if caseID == "" {
		return
	}
	t.touch(caseID)
	t.touched[caseID][id] = struct{}{}
}

// notify tells every watcher what a committed transaction changed.
func (s *Store) notify(t *Tx) {
	if len(t.touched) == 0 {
		return
	}
	s.watchMu.Lock()
	watches := append([]*Watch(nil), s.watches...)
	s.watchMu.Unlock()
	if len(watches) == 0 {
		return
	}
	changes := make([]Change, 0, len(t.touched))
	for id, msgs := range t.touched {
		ch := Change{Case: id}
		for m := range msgs {
			ch.Messages = append(ch.Messages, m)
		}
		changes = append(changes, ch)
	}
	for _, w := range watches {
		w.add(changes, t.lastChange)
	}
}
