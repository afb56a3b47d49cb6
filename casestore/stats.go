package casestore

import (
	"fmt"
	"time"
)

// Counts are the store's gauges that cost no scan of the whole file: each
// walks only an index that holds the work still to do.
type Counts struct {
	OutboundQueued int       // outbound rows waiting for delivery
	OldestQueued   time.Time // when the oldest of them was created; zero when none
	Jobs           int       // committed jobs not yet processed
	Timers         int       // procedure timers scheduled
	ParkedTimers   int       // timers taken out of the schedule after failing too often
}

// Counts reads the queue, job and timer indexes.
func (t *Tx) Counts() (Counts, error) {
	n := Counts{
		OutboundQueued: t.keyCount(bOutQueued),
		Jobs:           t.keyCount(bJobs),
		Timers:         t.keyCount(bTimers),
		ParkedTimers:   t.keyCount(bParkedTimers),
	}
	// Outbound ids grow with creation, so the first queued id is the oldest row.
	if k, _ := t.tx.Bucket(bOutQueued).Cursor().First(); k != nil {
		o, err := t.Outbound(btoi(k))
		if err != nil {
			return n, err
		}
		n.OldestQueued = o.Created
	}
	return n, nil
}

func (t *Tx) keyCount(bucket []byte) int {
	n := 0
	c := t.tx.Bucket(bucket).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// CaseStates counts the cases in each state, every state listed (zero
// included), from the counts PutCase keeps: no case row is read.
func (t *Tx) CaseStates() (map[string]int, error) {
	out := map[string]int{StateIntake: 0, StateOpen: 0, StateChoice: 0, StateMediation: 0, StateClosed: 0}
	err := t.tx.Bucket(bCaseCounts).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("case counts: %q holds %d bytes, want 8", k, len(v))
		}
		out[string(k)] = int(btoi(v))
		return nil
	})
	return out, err
}
