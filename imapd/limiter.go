package imapd

import (
	"sync"
	"time"
)

// limiter counts failures per key in a sliding window. A key with max
// failures inside the window is blocked until the oldest of them leaves it.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	fail map[string][]time.Time // oldest first, at most max entries
}

// maxLimiterKeys bounds the memory an address scan can make the limiter use.
const maxLimiterKeys = 100_000

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, fail: make(map[string][]time.Time)}
}

// blocked reports whether key is over the limit and for how long it stays so.
func (l *limiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key)
	if len(ts) < l.max {
		return false, 0
	}
	return true, ts[0].Add(l.window).Sub(l.now())
}

// recent drops failures older than the window; l.mu is held.
func (l *limiter) recent(key string) []time.Time {
	ts := l.fail[key]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i > 0 {
		ts = ts[i:]
		if len(ts) == 0 {
			delete(l.fail, key)
		} else {
			l.fail[key] = ts
		}
	}
	return ts
}

// failed records a failure of key.
func (l *limiter) failed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fail) >= maxLimiterKeys {
		l.prune()
	}
	ts := append(l.recent(key), l.now())
	if len(ts) > l.max {
		ts = ts[len(ts)-l.max:]
	}
	l.fail[key] = ts
}

// succeeded forgets the failures of key.
func (l *limiter) succeeded(key string) {
	l.mu.Lock()
	delete(l.fail, key)
	l.mu.Unlock()
}

// prune drops expired keys, and if that is not enough, all of them (a flood
// of distinct keys must not exhaust memory); l.mu is held.
func (l *limiter) prune() {
	for k := range l.fail {
		l.recent(k)
	}
	if len(l.fail) >= maxLimiterKeys {
		clear(l.fail)
	}
}
