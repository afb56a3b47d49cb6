package procedure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"parley/casestore"
)

// Clocks fire from the timers bucket, earliest first. Each timer is dropped in
// the transaction that applies its transition, so it fires once: never lost
// over a restart (it is in bbolt until it fired), never doubled. A timer whose
// action fails or panics is recorded on its case and retried on a backoff;
// the others keep firing in due order. A timer whose case still has accepted
// mail waiting is held back a little, so mail that arrived before a deadline
// counts before the deadline's action (a reminder to a trader who just
// answered, silence recorded for a trader who did not stay silent).

const (
	// mailWait is how long a timer waits for its case's queued mail, each time.
	mailWait = 2 * time.Second
	// maxMailWait bounds the wait for mail whose job keeps failing.
	maxMailWait = 2 * time.Minute
)

// holds remembers since when each timer has been held back for mail.
type holds struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// hold reports whether a timer may still wait, starting its wait now.
func (h *holds) hold(key string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since == nil {
		h.since = map[string]time.Time{}
	}
	first, ok := h.since[key]
	if !ok {
		h.since[key], first = now, now
	}
	return now.Sub(first) < maxMailWait
}

func (h *holds) release(key string) {
	h.mu.Lock()
	delete(h.since, key)
	h.mu.Unlock()
}

// fireConcurrency is how many cases' timers fire at once: each in its own
// transaction, and those that run together share the group commit's fsync.
const fireConcurrency = 8

// fireAll fires timers, those of one case in order, up to fireConcurrency
// cases at a time, so a sweep of many cases' retention timers costs one
// fsync per group instead of one per timer, and a failing timer still fails
// alone (the group committer takes a failing transaction out of its batch).
// It returns how many fired and how many left the schedule's due part
// (fired, or failed and moved on).
func (e *Engine) fireAll(due []casestore.DueTimer, now time.Time) (fired, moved int) {
	var order []string
	byCase := map[string][]casestore.DueTimer{}
	for _, d := range due {
		if _, ok := byCase[d.Case]; !ok {
			order = append(order, d.Case)
		}
		byCase[d.Case] = append(byCase[d.Case], d)
	}
	warm := e.warmAhead(order, byCase)
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, fireConcurrency)
	)
	for i, id := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(timers []casestore.DueTimer, warmed <-chan struct{}) {
			defer wg.Done()
			defer func() { <-sem }()
			<-warmed
			for _, d := range timers {
				ok, left := e.fireOne(d, now)
				mu.Lock()
				if ok {
					fired++
				}
				if left {
					moved++
				}
				mu.Unlock()
			}
		}(byCase[id], warm[i])
	}
	wg.Wait()
	return fired, moved
}

// warmConcurrency is how many cases' rows are read ahead at once: reads of
// cold pages, which a disk serves side by side.
const warmConcurrency = 32

// warmAhead reads ahead, in read-only transactions, the rows of the cases
// whose retention timer is among timers (the purge reads and rewrites every
// row of its case, on a large store mostly pages long out of memory), in
// order, up to warmConcurrency at once. It returns, per case of order, a
// channel closed once its rows were read (at once for the others). A failed
// read only loses the head start: the purge reads for itself.
func (e *Engine) warmAhead(order []string, byCase map[string][]casestore.DueTimer) []chan struct{} {
	warmed := make([]chan struct{}, len(order))
	var todo []int
	for i, id := range order {
		warmed[i] = make(chan struct{})
		if slices.ContainsFunc(byCase[id], func(d casestore.DueTimer) bool { return clock(d.Kind) == cRetention }) {
			todo = append(todo, i)
		} else {
			close(warmed[i])
		}
	}
	go func() {
		sem := make(chan struct{}, warmConcurrency)
		for _, i := range todo {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				defer close(warmed[i])
				if err := e.store.WarmCase(order[i]); err != nil {
					e.log.Debug("read case ahead of its purge", "case", order[i], "err", err)
				}
			}()
		}
	}()
	return warmed
}

// fireOne fires one timer, or records its failure.
func (e *Engine) fireOne(d casestore.DueTimer, now time.Time) (fired, moved bool) {
	err := protect(func() error { return e.fireTimer(d) })
	if err == nil {
		return true, true
	}
	if err := e.timerFailed(d, err, now); err != nil {
		e.log.Error("record timer failure", "case", d.Case, "timer", d.Kind, "err", err)
		return false, false
	}
	return false, true
}

// FireDue runs every timer due at the engine's now. It returns how many fired;
// the error reports only a store that cannot be read or written.
func (e *Engine) FireDue() (int, error) {
	fired := 0
	for {
		now := e.now()
		var due []casestore.DueTimer
		// queued is, per case, the earliest accepted mail not yet processed.
		queued := map[string]time.Time{}
		deadline := map[int]time.Time{}
		if err := e.store.View(func(tx *casestore.Tx) error {
			var err error
			if due, err = tx.DueTimers(now, 64); err != nil || len(due) == 0 {
				return err
			}
			jobs, err := tx.Jobs()
			for _, j := range jobs {
				id, ok := strings.CutPrefix(j.Shard, "case:")
				if !ok {
					continue
				}
				if m, err := tx.Message(j.Message); err == nil {
					if t, seen := queued[id]; !seen || m.Received.Before(t) {
						queued[id] = m.Received
					}
				}
			}
			// A held timer is scheduled past its deadline: compare with the deadline.
			for i, d := range due {
				if _, ok := queued[d.Case]; ok {
					if c, err := tx.Case(d.Case); err == nil {
						if tm, ok := c.Timer(d.Kind); ok {
							deadline[i] = tm.Due
						}
					}
				}
			}
			return err
		}); err != nil {
			return fired, fmt.Errorf("read due timers: %w", err)
		}
		if len(due) == 0 {
			return fired, nil
		}
		moved := 0
		var fire []casestore.DueTimer
		for i, d := range due {
			key := d.Case + "/" + d.Kind
			// Mail accepted before the timer came due counts first.
			if t, ok := queued[d.Case]; ok && !t.After(deadline[i]) && e.held.hold(key, now) {
				if err := e.moveTimer(d, now.Add(mailWait), d.Attempts, ""); err != nil {
					e.log.Error("hold timer for queued mail", "case", d.Case, "timer", d.Kind, "err", err)
					continue
				}
				moved++
				continue
			}
			e.held.release(key)
			fire = append(fire, d)
		}
		f, m := e.fireAll(fire, now)
		fired, moved = fired+f, moved+m
		if moved == 0 {
			return fired, errors.New("no due timer could be fired, retried or held: the store refuses writes")
		}
	}
}

// fireTimer applies one due timer to its case.
func (e *Engine) fireTimer(d casestore.DueTimer) error {
	if e.beforeFire != nil {
		if err := e.beforeFire(d); err != nil {
			return err
		}
	}
	var prepared any
	if clock(d.Kind) == cReferral {
		cf, err := e.prepareReferral(d.Case)
		if err != nil {
			return err
		}
		prepared = cf
	}
	var r *run
	err := e.update(func(tx *casestore.Tx) error {
		r = nil
		c, err := tx.Case(d.Case)
		if errors.Is(err, casestore.ErrNotFound) {
			return tx.DropStaleTimer(d)
		}
		if err != nil {
			return err
		}
		if !c.Pending(d) {
			return tx.DropStaleTimer(d)
		}
		tm, _ := c.Timer(d.Kind)
		if err := tx.DropTimer(c, d.Kind); err != nil {
			return err
		}
		r = e.newRun(tx, c)
		r.prepared = prepared
		if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvDeadline, Text: d.Kind}); err != nil {
			return err
		}
		if _, err := r.fire(fired{clock(d.Kind), tm.Due}); err != nil {
			return err
		}
		return tx.PutCase(c)
	})
	if err != nil || r == nil {
		return err
	}
	e.afterCommit(r)
	return nil
}

// timerFailed records a failed attempt on the timer's case and moves the
// timer to its next attempt, or parks it.
func (e *Engine) timerFailed(d casestore.DueTimer, cause error, now time.Time) error {
	n := d.Attempts + 1
	wait, again := e.timerRetry.next(n)
	attrs := withStack([]any{"case", d.Case, "timer", d.Kind, "attempt", n, "err", cause}, cause)
	text := fmt.Sprintf("%s failed (attempt %d): %v", d.Kind, n, cause)
	e.cfg.Metrics.TimerFailed(!again)
	if again {
		e.log.Warn("timer failed, will retry", append(attrs, "retry_in", wait)...)
		text += fmt.Sprintf("; next attempt at %s", now.Add(wait).UTC().Format(time.RFC3339))
		return e.moveTimer(d, now.Add(wait), n, text)
	}
	e.log.Error("timer failed too often, parked until the next start", attrs...)
	text += "; parked until the next start"
	return e.store.Update(func(tx *casestore.Tx) error {
		c, err := tx.Case(d.Case)
		if err != nil {
			return tx.ParkTimer(nil, d, text) // the case cannot be read: the schedule still moves on
		}
		if err := tx.ParkTimer(c, d, text); err != nil {
			return err
		}
		if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvClockFailed, Text: text}); err != nil {
			return err
		}
		return tx.PutCase(c)
	})
}

// moveTimer reschedules a due timer at at; with text, the reason is
// recorded on the case.
func (e *Engine) moveTimer(d casestore.DueTimer, at time.Time, attempts int, text string) error {
	return e.store.Update(func(tx *casestore.Tx) error {
		c, err := tx.Case(d.Case)
		if err != nil || !c.Pending(d) {
			return tx.RescheduleTimer(nil, d, at, attempts, text)
		}
		if err := tx.RescheduleTimer(c, d, at, attempts, text); err != nil {
			return err
		}
		if text != "" {
			if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvClockFailed, Text: text}); err != nil {
				return err
			}
		}
		return tx.PutCase(c)
	})
}

// afterCommit hands a run's outbound rows to the queue and removes the blob
// files it released.
func (e *Engine) afterCommit(r *run) {
	if len(r.out) > 0 && e.queued != nil {
		e.queued(r.out...)
	}
	for _, sum := range r.removeBlobs {
		if err := e.store.Blobs.Remove(sum); err != nil {
			e.log.Warn("remove purged blob", "sha256", sum, "err", err)
		}
	}
	e.pokeTimers()
}

func (e *Engine) pokeTimers() {
	select {
	case e.timersChanged <- struct{}{}:
	default:
	}
}

// RunTimers fires timers as they come due until ctx is done, and sweeps
// caseless messages past retention once an hour. Timers parked by an earlier
// run are put back in the schedule first.
func (e *Engine) RunTimers(ctx context.Context) {
	var resumed int
	if err := e.store.Update(func(tx *casestore.Tx) (err error) { resumed, err = tx.ResumeParkedTimers(e.now()); return err }); err != nil {
		e.log.Error("resume parked timers", "err", err)
	} else if resumed > 0 {
		e.log.Info("parked timers resumed", "timers", resumed)
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var lastSweep time.Time
	for {
		if time.Since(lastSweep) > time.Hour {
			lastSweep = time.Now()
			if n, err := e.SweepCaseless(); err != nil {
				e.log.Error("retention sweep", "err", err)
			} else if n > 0 {
				e.log.Info("retention sweep", "messages", n)
			}
		}
		wait := time.Minute // after a store failure, try again this much later
		if _, err := e.FireDue(); err != nil {
			e.log.Error("timers", "err", err)
		} else if err := e.store.View(func(tx *casestore.Tx) error {
			wait = time.Hour
			if next, ok := tx.NextTimer(); ok {
				wait = max(next.Sub(e.now()), 0)
			}
			return nil
		}); err != nil {
			wait = time.Minute
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.timersChanged:
		case <-t.C:
		}
	}
}
