package smtpd

import (
	"bytes"
	"sync"
)

// maxBareOffsets bounds the offsets a watcher remembers. go-smtp's reader
// reads at most 4 KiB ahead of what it has handed on, so the bare bytes that
// matter at either end of DATA are among the newest 4096; older ones are
// dropped first.
const maxBareOffsets = 8192

// bareWatch sees the stream of one session as it is read from beneath
// go-smtp's buffered reader, and remembers where a CR not followed by LF, or
// an LF not preceded by CR, went by. Since go-smtp reads ahead, a client
// that sends DATA and its message without waiting for 354 has the message
// read during the command phase; so the watcher keeps offsets, and DATA asks
// about its own bytes only: from where they start (read so far minus what is
// still buffered when DATA begins) to where they end (the same when it ends).
type bareWatch struct {
	mu    sync.Mutex
	prev  byte
	n     int64   // bytes seen
	bare  []int64 // offsets of bare CR or LF, ascending, the newest maxBareOffsets
	start int64   // where the current DATA's bytes start
}

func (w *bareWatch) see(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lf := -1 // the next LF at or after i, len(p) if none
	for i := 0; i < len(p); {
		if w.prev != '\r' {
			// Skip to the next CR or LF: the bytes between cannot be bare
			// (TestBareWatchAgrees holds this to a byte-at-a-time reading).
			if lf < i {
				lf = len(p)
				if k := bytes.IndexByte(p[i:], '\n'); k >= 0 {
					lf = i + k
				}
			}
			next := lf
			if k := bytes.IndexByte(p[i:lf], '\r'); k >= 0 {
				next = i + k
			}
			if next > i {
				w.n += int64(next - i)
				w.prev = p[next-1]
				i = next
				continue
			}
		}
		b := p[i]
		if (b == '\n' && w.prev != '\r') || (w.prev == '\r' && b != '\n') {
			if len(w.bare) == maxBareOffsets {
				w.bare = append(w.bare[:0], w.bare[maxBareOffsets/2:]...)
			}
			w.bare = append(w.bare, w.n)
		}
		w.prev = b
		w.n++
		i++
	}
}

// begin marks the start of DATA's bytes, buffered bytes back from what was
// read; bare bytes before it (in commands) no longer matter.
func (w *bareWatch) begin(buffered int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start = w.n - int64(buffered)
	w.drop(w.start)
}

// end reports whether a bare CR or LF was among DATA's bytes, which end
// buffered bytes back from what was read.
func (w *bareWatch) end(buffered int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.n - int64(buffered)
	found := false
	for i := len(w.bare) - 1; i >= 0 && w.bare[i] >= w.start; i-- {
		if w.bare[i] < end {
			found = true
			break
		}
	}
	w.drop(end)
	return found
}

// drop forgets offsets before off.
func (w *bareWatch) drop(off int64) {
	i := 0
	for i < len(w.bare) && w.bare[i] < off {
		i++
	}
	w.bare = append(w.bare[:0], w.bare[i:]...)
}
