package procedure

import (
	"fmt"
	"runtime/debug"
	"time"
)

// One mechanism for work that may fail: a job (an accepted message) and a
// timer (a clock come due) both run under protect, so a panic becomes an
// error of that one item, and both are retried on a doubling backoff and
// parked after a number of attempts, with a log line at error level. Parked
// jobs and timers are tried again at the next start.

// retryPolicy says how soon and how often failed work is tried again.
type retryPolicy struct {
	attempts    int // parked after this many failures
	first, most time.Duration
}

// next is the wait before the attempt after failure number n (1-based), and
// false when the work is to be parked instead.
func (p retryPolicy) next(n int) (time.Duration, bool) {
	if n >= p.attempts {
		return 0, false
	}
	d := p.first
	for i := 1; i < n && d < p.most; i++ {
		d *= 2
	}
	return min(d, p.most), true
}

// protect runs fn; a panic in it comes back as an error.
func protect(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{v: p, stack: debug.Stack()}
		}
	}()
	return fn()
}

type panicError struct {
	v     any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }
