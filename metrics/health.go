package metrics

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Health is what /healthz reports: every part registered is up (its check
// passes, or its listener is still serving), or the answer is 503 naming
// what is down.
type Health struct {
	mu      sync.Mutex
	checks  map[string]func() error
	stopped map[string]string // listener: why it stopped
	serving map[string]bool
}

// NewHealth starts with nothing to check.
func NewHealth() *Health {
	return &Health{checks: map[string]func() error{}, stopped: map[string]string{}, serving: map[string]bool{}}
}

// Check registers a part checked at each request (the store: can it be read).
func (h *Health) Check(name string, fn func() error) {
	h.mu.Lock()
	h.checks[name] = fn
	h.mu.Unlock()
}

// Serving marks the listener name as serving until the returned function is
// called with the error its Serve returned.
func (h *Health) Serving(name string) (stopped func(error)) {
	h.mu.Lock()
	h.serving[name] = true
	delete(h.stopped, name)
	h.mu.Unlock()
	return func(err error) {
		why := "stopped"
		if err != nil {
			why = "stopped: " + err.Error()
		}
		h.Down(name, why)
	}
}

// Up marks name as up again (the daemon done starting).
func (h *Health) Up(name string) {
	h.mu.Lock()
	delete(h.stopped, name)
	h.mu.Unlock()
}

// Down marks name as down for why (a listener stopped, the daemon shutting
// down).
func (h *Health) Down(name, why string) {
	h.mu.Lock()
	h.stopped[name] = why
	h.mu.Unlock()
}

// Status runs the checks; ok is false when any part is down, and report says
// which, one line each ("ok" when all are up).
func (h *Health) Status() (ok bool, report string) {
	h.mu.Lock()
	checks := make(map[string]func() error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	var down []string
	for name, why := range h.stopped {
		down = append(down, name+": "+why)
	}
	h.mu.Unlock()
	for name, fn := range checks {
		if err := fn(); err != nil {
			down = append(down, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(down) == 0 {
		return true, "ok\n"
	}
	sort.Strings(down)
	return false, strings.Join(down, "\n") + "\n"
}
