package casestore

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Timers are kept in a bucket ordered by when they next fire (key: that time
// in Unix nanoseconds, big-endian, then "CASE/KIND"; value: the failed
// attempts so far), so the scheduler finds the next one with a cursor. Each
// case mirrors its timers, so a transition can drop them and a reader can show
// them. A timer whose action failed is re-keyed at its retry time, keeping its
// Due (the deadline parties were told); after too many failures it is parked:
// out of the schedule, listed in its own bucket, until ResumeParkedTimers.

// At is when the timer next fires: its due time, or its retry after a failure.
func (tm Timer) At() time.Time {
	if !tm.Retry.IsZero() {
		return tm.Retry
	}
	return tm.Due
}

func timerKey(caseID, kind string, at time.Time) []byte {
	k := make([]byte, 8, 8+len(caseID)+1+len(kind))
	binary.BigEndian.PutUint64(k, uint64(at.UnixNano()))
	return append(append(k, caseID+"/"...), kind...)
}

func attemptsValue(n int) []byte {
	if n <= 0 {
		return nil
	}
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

// SetTimers replaces every pending timer of c with timers.
func (t *Tx) SetTimers(c *Case, timers ...Timer) error {
	for _, old := range c.Timers {
		if err := t.unschedule(c.ID, old); err != nil {
			return err
		}
	}
	c.Timers = nil
	for _, tm := range timers {
		if err := t.SetTimer(c, tm); err != nil {
			return err
		}
	}
	return nil
}

// SetTimer adds a timer to c, replacing one of the same kind.
func (t *Tx) SetTimer(c *Case, tm Timer) error {
	if err := t.DropTimer(c, tm.Kind); err != nil {
		return err
	}
	if tm.Parked {
		if err := t.tx.Bucket(bParkedTimers).Put([]byte(c.ID+"/"+tm.Kind), nil); err != nil {
			return err
		}
	} else if err := t.tx.Bucket(bTimers).Put(timerKey(c.ID, tm.Kind, tm.At()), attemptsValue(tm.Attempts)); err != nil {
		return err
	}
	c.Timers = append(c.Timers, tm)
	sort.SliceStable(c.Timers, func(i, j int) bool { return c.Timers[i].Due.Before(c.Timers[j].Due) })
	c.syncDeadline()
	return nil
}

// DropTimer removes c's timer of a kind (it fired, or no longer applies).
func (t *Tx) DropTimer(c *Case, kind string) error {
	var keep []Timer
	for _, tm := range c.Timers {
		if tm.Kind == kind {
			if err := t.unschedule(c.ID, tm); err != nil {
				return err
			}
			continue
		}
		keep = append(keep, tm)
	}
	c.Timers = keep
	c.syncDeadline()
	return nil
}

func (t *Tx) unschedule(caseID string, tm Timer) error {
	if tm.Parked {
		return t.tx.Bucket(bParkedTimers).Delete([]byte(caseID + "/" + tm.Kind))
	}
	return t.tx.Bucket(bTimers).Delete(timerKey(caseID, tm.Kind, tm.At()))
}

// Timer returns c's pending timer of a kind.
func (c *Case) Timer(kind string) (Timer, bool) {
	for _, tm := range c.Timers {
		if tm.Kind == kind {
			return tm, true
		}
	}
	return Timer{}, false
}

// syncDeadline keeps Deadline at the earliest pending deadline, for lists.
func (c *Case) syncDeadline() {
	c.Deadline = time.Time{}
	for _, tm := range c.Timers {
		if !tm.Internal && (c.Deadline.IsZero() || tm.Due.Before(c.Deadline)) {
			c.Deadline = tm.Due
		}
	}
}

// DueTimer is a scheduled timer that is due, as the schedule lists it.
type DueTimer struct {
	Case     string
	Kind     string
	At       time.Time // when it was scheduled to fire (due, or a retry)
	Attempts int       // failed attempts so far
}

// DueTimers lists timers scheduled at or before now, earliest first, at most limit.
func (t *Tx) DueTimers(now time.Time, limit int) ([]DueTimer, error) {
	var out []DueTimer
	c := t.tx.Bucket(bTimers).Cursor()
	for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
		at := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
		if at.After(now) {
			break
		}
		id, kind, ok := strings.Cut(string(k[8:]), "/")
		if !ok {
			return nil, fmt.Errorf("bad timer key %q", k)
		}
		d := DueTimer{Case: id, Kind: kind, At: at}
		if len(v) == 4 {
			d.Attempts = int(binary.BigEndian.Uint32(v))
		}
		out = append(out, d)
	}
	return out, nil
}

// NextTimer returns when the earliest scheduled timer fires.
func (t *Tx) NextTimer() (time.Time, bool) {
	k, _ := t.tx.Bucket(bTimers).Cursor().First()
	if k == nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
}

// Pending reports whether d is still c's timer as scheduled (not fired,
// replaced or moved since d was listed).
func (c *Case) Pending(d DueTimer) bool {
	tm, ok := c.Timer(d.Kind)
	return ok && !tm.Parked && tm.At().Equal(d.At)
}

// RescheduleTimer moves a scheduled timer to at with an attempt count, in the
// schedule only: for a timer whose case cannot be read. With c non-nil the
// case's mirror is updated too (and lastErr recorded), keeping its Due.
func (t *Tx) RescheduleTimer(c *Case, d DueTimer, at time.Time, attempts int, lastErr string) error {
	b := t.tx.Bucket(bTimers)
	if err := b.Delete(timerKey(d.Case, d.Kind, d.At)); err != nil {
		return err
	}
	if err := b.Put(timerKey(d.Case, d.Kind, at), attemptsValue(attempts)); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	for i, tm := range c.Timers {
		if tm.Kind == d.Kind {
			c.Timers[i].Retry, c.Timers[i].Attempts, c.Timers[i].LastError = at, attempts, lastErr
		}
	}
	return nil
}

// ParkTimer takes a timer out of the schedule after too many failures. c may
// be nil when the case cannot be read.
func (t *Tx) ParkTimer(c *Case, d DueTimer, lastErr string) error {
	if err := t.tx.Bucket(bTimers).Delete(timerKey(d.Case, d.Kind, d.At)); err != nil {
		return err
	}
	if err := t.tx.Bucket(bParkedTimers).Put([]byte(d.Case+"/"+d.Kind), itob(uint64(d.At.UnixNano()))); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	for i, tm := range c.Timers {
		if tm.Kind == d.Kind {
			c.Timers[i].Parked, c.Timers[i].LastError = true, lastErr
		}
	}
	return nil
}

// ParkedTimers lists the parked timers as "CASE/KIND".
func (t *Tx) ParkedTimers() []string {
	var out []string
	t.tx.Bucket(bParkedTimers).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// ResumeParkedTimers puts every parked timer back in the schedule at now
// with no failed attempts (at a start, as jobs are retried at a start).
func (t *Tx) ResumeParkedTimers(now time.Time) (int, error) {
	n := 0
	for _, key := range t.ParkedTimers() {
		id, kind, _ := strings.Cut(key, "/")
		if err := t.tx.Bucket(bParkedTimers).Delete([]byte(key)); err != nil {
			return n, err
		}
		c, err := t.Case(id)
		if err != nil {
			continue // the case is gone or unreadable: nothing to fire
		}
		for i, tm := range c.Timers {
			if tm.Kind == kind && tm.Parked {
				c.Timers[i].Parked, c.Timers[i].Attempts, c.Timers[i].Retry = false, 0, now
				if err := t.tx.Bucket(bTimers).Put(timerKey(id, kind, now), nil); err != nil {
					return n, err
				}
				n++
			}
		}
		if err := t.PutCase(c); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DropStaleTimer deletes a schedule entry its case no longer lists.
func (t *Tx) DropStaleTimer(d DueTimer) error {
	return t.tx.Bucket(bTimers).Delete(timerKey(d.Case, d.Kind, d.At))
}
