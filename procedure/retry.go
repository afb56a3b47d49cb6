package procedure

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"parley/casestore"
)

// One mechanism for work that may fail: a job (an accepted message) and a
// timer (a clock come due) both run under protect, so a panic becomes an
// error of that one item, and both are retried on a doubling backoff and
// parked after a number of attempts, with a log line at error level. Parked
// jobs and timers are tried again at the next start. A job failing for a
// transient cause (transient) is not parked: it is retried for as long as
// the cause lasts, and the later jobs of its shard wait behind it, so a
// case's mail keeps its order through a full disk.

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
	return p.backoff(n), true
}

// backoff is the doubling wait after failure number n, at most p.most.
func (p retryPolicy) backoff(n int) time.Duration {
	d := p.first
	for i := 1; i < n && d < p.most; i++ {
		d *= 2
	}
	return min(d, p.most)
}

// transient reports a failure that goes away by itself or by the operator's
// hand without any change to the work: a full or failing disk, a timeout.
// Such work is retried for as long as the cause lasts, never parked.
func transient(err error) bool {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, syscall.EAGAIN, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// protect runs fn; a panic in it comes back as a *casestore.PanicError (as
// one inside a transaction does from the store).
func protect(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &casestore.PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return fn()
}

// withStack adds the stack of a panic that err carries to a log line's attrs.
func withStack(attrs []any, err error) []any {
	var pe *casestore.PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	return attrs
}
