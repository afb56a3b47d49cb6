package procedure

import (
	"context"
	"time"

	"parley/casestore"
)

// FireDue runs every timer due at the engine's now. Each timer is dropped in
// the same transaction that applies its transition, so a timer fires once:
// never lost over a restart (it is in bbolt until it fired), never doubled.
func (e *Engine) FireDue() (int, error) {
	fired := 0
	for {
		var due []casestore.DueTimer
		if err := e.store.View(func(tx *casestore.Tx) (err error) {
			due, err = tx.DueTimers(e.now(), 64)
			return err
		}); err != nil {
			return fired, err
		}
		if len(due) == 0 {
			return fired, nil
		}
		for _, d := range due {
			if err := e.fireTimer(d); err != nil {
				return fired, err
			}
			fired++
		}
	}
}

func (e *Engine) fireTimer(d casestore.DueTimer) error {
	var r *run
	err := e.store.Update(func(tx *casestore.Tx) error {
		c, err := tx.Case(d.Case)
		pending := false
		if err == nil {
			for _, tm := range c.Timers {
				pending = pending || (tm.Kind == d.Kind && tm.Due.Equal(d.Due))
			}
		}
		if !pending {
			return tx.DropStaleTimer(d.Case, d.Timer)
		}
		if err := tx.DropTimer(c, d.Kind); err != nil {
			return err
		}
		r = e.newRun(tx, c)
		if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvDeadline, Text: d.Kind}); err != nil {
			return err
		}
		if _, err := r.fire(trigger(d.Kind)); err != nil {
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
// caseless messages past retention once an hour.
func (e *Engine) RunTimers(ctx context.Context) {
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
		if _, err := e.FireDue(); err != nil {
			e.log.Error("timers", "err", err)
		}
		wait := time.Minute // a failed store read is retried this often
		var next time.Time
		var have bool
		if err := e.store.View(func(tx *casestore.Tx) error { next, have = tx.NextTimer(); return nil }); err == nil {
			wait = time.Hour
			if have {
				wait = max(next.Sub(e.now()), 0)
			}
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
