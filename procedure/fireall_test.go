package procedure

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/casestore"
)

// Due timers of different cases fire side by side (so their transactions
// share the group commit's fsync), those of one case one after another in
// the order they came due.
func TestFireAllParallelAcrossCasesInOrderWithin(t *testing.T) {
	ev := newEnv(t)
	var (
		mu      sync.Mutex
		running = map[string]bool{}
		order   = map[string][]string{}
		both    = make(chan struct{})
		once    sync.Once
	)
	ev.e.beforeFire = func(d casestore.DueTimer) error {
		mu.Lock()
		if running[d.Case] {
			mu.Unlock()
			return fmt.Errorf("two timers of case %s at once", d.Case)
		}
		running[d.Case] = true
		order[d.Case] = append(order[d.Case], d.Kind)
		if len(running) > 1 {
			once.Do(func() { close(both) })
		}
		mu.Unlock()
		// The first timers wait until another case's timer runs beside them.
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		delete(running, d.Case)
		mu.Unlock()
		return errors.New("test: not fired")
	}
	var due []casestore.DueTimer
	for c := 0; c < 5; c++ {
		for _, kind := range []string{"reminder", "window_end", "retention"} {
			due = append(due, casestore.DueTimer{Case: fmt.Sprintf("C%02d-TEST", c), Kind: kind, At: ev.now})
		}
	}
	select {
	case <-both:
		t.Fatal("fired before fireAll")
	default:
	}
	ev.e.fireAll(due, ev.now)
	select {
	case <-both:
	default:
		t.Fatal("no two cases' timers ran at the same time")
	}
	for c := 0; c < 5; c++ {
		id := fmt.Sprintf("C%02d-TEST", c)
		if got := fmt.Sprint(order[id]); got != "[reminder window_end retention]" {
			t.Errorf("case %s fired %s, want reminder, window_end, retention in turn", id, got)
		}
	}
}
