package outbound

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// sentLog makes a delivery durable the moment the next hop accepted it.
// Recording it in the store waits for the shared group commit, and a crash
// in that wait sent the message again at the next start: every worker
// holding a 250 was a duplicate (up to eight per kill -9). The log is a
// small append-only file beside the store: a worker appends the row id at
// once (in the kernel's page cache from then on, so a kill -9 cannot lose
// it) and waits for one fdatasync shared by all workers that finished
// meanwhile (for a power loss), then records the delivery in the store as
// before. At start the ids in the log that the store still has queued are
// recorded as delivered instead of being sent again, and the log is
// emptied.
type sentLog struct {
	path string

	mu      sync.Mutex
	f       *os.File
	pending []uint64        // written, not yet synced
	waiters []chan error    // one per pending id
	syncing bool            // a goroutine is syncing
	open    map[uint64]bool // synced, not yet recorded in the store
	size    int64
}

func openSentLog(path string) (*sentLog, []uint64, error) {
	var ids []uint64
	if data, err := os.ReadFile(path); err == nil {
		lines := strings.Split(string(data), "\n")
		// The piece after the last newline is empty, or a torn append from
		// a crash: never synced, so never acknowledged to its worker.
		for _, line := range lines[:len(lines)-1] {
			if id, err := strconv.ParseUint(line, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	} else if !os.IsNotExist(err) {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	l := &sentLog{path: path, f: f, open: map[uint64]bool{}, size: st.Size()}
	for _, id := range ids {
		l.open[id] = true
	}
	return l, ids, nil
}

// mark appends id and returns once it is on disk.
func (l *sentLog) mark(id uint64) error { return l.add(id)() }

// add appends id with one write(2) of a whole line, made before waiting for
// anything, and returns the wait for its fdatasync. From the write on, a
// worker killed after its next hop's 250 has its id in the log (the page
// cache outlives the process); the sync is for a power loss.
func (l *sentLog) add(id uint64) (wait func() error) {
	line := strconv.FormatUint(id, 10) + "\n"
	done := make(chan error, 1)
	l.mu.Lock()
	if _, err := l.f.WriteString(line); err != nil {
		l.mu.Unlock()
		err = fmt.Errorf("append to %s: %w", l.path, err)
		return func() error { return err }
	}
	l.size += int64(len(line))
	l.pending = append(l.pending, id)
	l.waiters = append(l.waiters, done)
	lead := !l.syncing
	l.syncing = true
	l.mu.Unlock()
	return func() error {
		if lead {
			l.flush()
		}
		return <-done
	}
}

// flush syncs in rounds until nothing written is unsynced: the workers that
// finish during one fdatasync share the next.
func (l *sentLog) flush() {
	for {
		l.mu.Lock()
		ids, waiters := l.pending, l.waiters
		l.pending, l.waiters = nil, nil
		if len(ids) == 0 {
			l.syncing = false
			l.mu.Unlock()
			return
		}
		f := l.f
		l.mu.Unlock()
		err := syscall.Fdatasync(int(f.Fd()))
		if err != nil {
			err = fmt.Errorf("sync %s: %w", l.path, err)
		}
		l.mu.Lock()
		if err == nil {
			for _, id := range ids {
				l.open[id] = true
			}
		}
		l.mu.Unlock()
		for _, w := range waiters {
			w <- err
		}
	}
}

// recorded notes that the store now has id as delivered. When nothing in
// the log is still unrecorded and it has grown, it is emptied.
func (l *sentLog) recorded(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, id)
	if len(l.open) == 0 && !l.syncing && len(l.pending) == 0 && l.size > 64<<10 {
		l.truncate()
	}
}

// truncate empties the log; l.mu is held.
func (l *sentLog) truncate() {
	if err := l.f.Truncate(0); err == nil {
		l.size = 0
	}
}

// clear empties the log after its ids were recorded at start.
func (l *sentLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open = map[uint64]bool{}
	l.truncate()
}

func (l *sentLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
