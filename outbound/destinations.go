package outbound

import (
	"sync"
	"time"
)

// destinations keeps direct delivery polite to each recipient domain: at
// most limit sessions at once, and after a failure of the whole destination
// (no MX host reachable) a backoff that the domain's other messages wait
// out too, instead of each trying the dead hosts on its own.
type destinations struct {
	limit int

	mu sync.Mutex
	m  map[string]*destination
}

type destination struct {
	active   int
	failures int       // destination failures in a row
	until    time.Time // no new session before this
	waiting  []uint64  // rows that found the domain at its limit
}

func newDestinations(limit int) *destinations {
	return &destinations{limit: limit, m: map[string]*destination{}}
}

// acquire lets row id start a session with domain. When it may not, either
// the row waits for a session to end (release returns it) and at is zero,
// or the domain is backing off and the row should come back at at.
func (d *destinations) acquire(domain string, id uint64, now time.Time) (ok bool, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst := d.m[domain]
	if dst == nil {
		if len(d.m) >= maxDestinations {
			d.sweep(now)
		}
		dst = &destination{}
		d.m[domain] = dst
	}
	switch {
	case now.Before(dst.until):
		return false, dst.until
	case dst.active >= d.limit:
		dst.waiting = append(dst.waiting, id)
		return false, time.Time{}
	}
	dst.active++
	return true, time.Time{}
}

// maxDestinations is how many domains are remembered before those idle and
// past their backoff are forgotten.
const maxDestinations = 1024

func (d *destinations) sweep(now time.Time) {
	for name, dst := range d.m {
		if dst.active == 0 && len(dst.waiting) == 0 && !now.Before(dst.until) {
			delete(d.m, name)
		}
	}
}

// release ends a session. A destination failure backs the domain off for
// backoff(failures in a row); anything else clears the count. It returns
// the rows that waited, to be scheduled again.
func (d *destinations) release(domain string, destFailed bool, now time.Time, backoff func(int) time.Duration) []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst := d.m[domain]
	if dst == nil {
		return nil
	}
	dst.active--
	if destFailed {
		dst.failures++
		dst.until = now.Add(backoff(dst.failures))
	} else {
		dst.failures, dst.until = 0, time.Time{}
	}
	// Every waiting row tries again: one takes the freed session, the rest
	// wait anew (waking only one could strand the others behind a row that
	// left the queue meanwhile).
	woken := dst.waiting
	dst.waiting = nil
	if dst.active == 0 && dst.failures == 0 {
		delete(d.m, domain) // nothing to remember: the map holds only busy or failing domains
	}
	return woken
}
