package outbound

import (
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"sync"
)

// sentLog makes a delivery survive a crash of the process the moment the
// next hop accepted it. Recording it in the store waits for the shared group
// commit, and a kill -9 in that wait sent the message again at the next
// start: every worker holding a 250 was a duplicate (up to eight per kill).
// The log is a small append-only file beside the store: a worker appends the
// row id with one write(2) at once (in the kernel's page cache from then on,
// so a killed process cannot lose it), then records the delivery in the
// store as before. At start the ids in the log that the store still has
// queued are recorded as delivered instead of being sent again, and the log
// is emptied.
//
// The log is not fsynced: that cost a shared fdatasync for every delivery
// (5 % of the daemon's CPU under load) and guarded only the milliseconds
// between the next hop's 250 and the store's own fsynced commit, against a
// power loss. A power loss in that window sends those few messages again,
// as Postfix and every MTA do (RFC 5321 section 6.1 prefers a duplicate to
// a loss). Because unsynced pages of an append can come back as zeros or
// missing after a power loss, each line carries a CRC-32 of its id: a line
// that is not exactly "id crc" is skipped, so a damaged log can cause a
// resend but never marks a row delivered that was not.
type sentLog struct {
	path string

	mu   sync.Mutex
	f    *os.File
	open map[uint64]bool // in the log, not yet recorded in the store
	size int64
}

// sentLine is the log line for id.
func sentLine(id uint64) string {
	s := strconv.FormatUint(id, 10)
	return s + " " + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(s))), 16) + "\n"
}

// parseSentLine reads a line written by sentLine. With bare, a line of a
// bare id is read too: the log of an earlier version, which fdatasynced
// it and wrote no checksum.
func parseSentLine(line string, bare bool) (uint64, bool) {
	num, sum, checked := strings.Cut(line, " ")
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil || !checked && !bare {
		return 0, false
	}
	if !checked {
		return id, true
	}
	want, err := strconv.ParseUint(sum, 16, 32)
	return id, err == nil && uint32(want) == crc32.ChecksumIEEE([]byte(num))
}

func openSentLog(path string) (*sentLog, []uint64, error) {
	var ids []uint64
	if data, err := os.ReadFile(path); err == nil {
		lines := strings.Split(string(data), "\n")
		// The log is emptied at every start, so it is all of one format: an
		// earlier version's when no line has a checksum. Otherwise a line
		// without one is damage (two lines run together can be all digits).
		bare := !strings.Contains(string(data), " ")
		// The piece after the last newline is empty, or a torn append from
		// a crash.
		for _, line := range lines[:len(lines)-1] {
			if id, ok := parseSentLine(line, bare); ok {
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

// mark appends id with one write(2) of a whole line: from then on a worker
// killed after its next hop's 250 has its id in the log.
func (l *sentLog) mark(id uint64) error {
	line := sentLine(id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(line); err != nil {
		return fmt.Errorf("append to %s: %w", l.path, err)
	}
	l.size += int64(len(line))
	l.open[id] = true
	return nil
}

// recorded notes that the store now has id as delivered. When nothing in
// the log is still unrecorded and it has grown, it is emptied.
func (l *sentLog) recorded(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, id)
	if len(l.open) == 0 && l.size > 64<<10 {
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
