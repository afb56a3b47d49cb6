package casestore

import (
	"sort"
	"sync"
)

// A Watch learns which cases the store's commits changed, so a reader that
// mirrors cases (the IMAP index) updates just those, without re-reading every
// case to find them. A commit changes a case when it writes the case record,
// one of its messages or one of its outbound rows. Changes are kept until
// taken; Changed is signalled once for any number of them.
type Watch struct {
	s       *Store
	mu      sync.Mutex
	pending map[string]struct{}
	signal  chan struct{}
}

// Watch registers a watcher; it sees every commit from now on.
func (s *Store) Watch() *Watch {
	w := &Watch{s: s, pending: make(map[string]struct{}), signal: make(chan struct{}, 1)}
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

// Take returns the cases changed since the last Take, sorted, and forgets them.
func (w *Watch) Take() []string {
	w.mu.Lock()
	ids := make([]string, 0, len(w.pending))
	for id := range w.pending {
		ids = append(ids, id)
	}
	clear(w.pending)
	w.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// Requeue gives back cases a reader took but could not process, so the next
// Take returns them again.
func (w *Watch) Requeue(ids []string) {
	if len(ids) > 0 {
		w.add(ids)
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

func (w *Watch) add(ids []string) {
	w.mu.Lock()
	for _, id := range ids {
		w.pending[id] = struct{}{}
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// touch records that the transaction changed a case.
func (t *Tx) touch(caseID string) {
	if caseID == "" {
		return
	}
	if t.touched == nil {
		t.touched = make(map[string]struct{})
	}
	t.touched[caseID] = struct{}{}
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
	ids := make([]string, 0, len(t.touched))
	for id := range t.touched {
		ids = append(ids, id)
	}
	for _, w := range watches {
		w.add(ids)
	}
}
