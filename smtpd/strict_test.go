package smtpd

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// strictByByte is strictReader.Read as first written, a byte at a time: the
// reference the line-at-a-time scan is held to.
type strictByByte struct {
	prev      byte
	inHeader  bool
	header    []byte
	maxHeader int
	lineLen   int
	maxLine   int
}

func (s *strictByByte) read(p []byte, err error) (int, error) {
	n := len(p)
	wasHeader, headerEnd := s.inHeader, n
	for i := 0; i < n; i++ {
		c := p[i]
		switch {
		case c == '\n' && s.prev != '\r':
			return 0, errBareLineEnding
		case s.prev == '\r' && c != '\n':
			return 0, errBareLineEnding
		}
		if c == '\n' {
			if s.inHeader && s.lineLen == 1 {
				s.inHeader, headerEnd = false, i+1
			}
			s.lineLen = 0
		} else {
			s.lineLen++
			if s.lineLen > s.maxLine {
				return 0, errLineTooLong
			}
		}
		s.prev = c
	}
	if wasHeader {
		if len(s.header)+headerEnd > s.maxHeader {
			return 0, errHeaderTooLarge
		}
		s.header = append(s.header, p[:headerEnd]...)
	}
	if err == io.EOF && s.prev != '\n' && s.prev != 0 {
		return n, errBareLineEnding
	}
	return n, err
}

// chunks hands out its pieces one Read at a time, the last with io.EOF.
type chunks struct{ pieces [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.pieces[0])
	c.pieces = c.pieces[1:]
	if len(c.pieces) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// checkStrictAgrees reads data cut into pieces with both readers and
// compares every result.
func checkStrictAgrees(t *testing.T, data []byte, cuts []int, maxHeader, maxLine int) {
	t.Helper()
	var pieces [][]byte
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(data) {
			pieces = append(pieces, data[prev:c])
			prev = c
		}
	}
	pieces = append(pieces, data[prev:])
	s := newStrictReader(&chunks{pieces: slices.Clone(pieces)}, maxHeader, maxLine)
	ref := &strictByByte{inHeader: true, maxHeader: maxHeader, maxLine: maxLine}
	buf := make([]byte, len(data)+1)
	for i, piece := range pieces {
		n, err := s.Read(buf)
		var rerr error
		if i == len(pieces)-1 {
			rerr = io.EOF
		}
		rn, rerr := ref.read(piece, rerr)
		if n != rn || err != rerr {
			t.Fatalf("%q cut %v (max line %d): piece %d: scan %d, %v; byte at a time %d, %v", data, cuts, maxLine, i, n, err, rn, rerr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(s.header, ref.header) || s.inHeader != ref.inHeader || s.prev != ref.prev || s.lineLen != ref.lineLen {
			t.Fatalf("%q cut %v: piece %d: state differs: header %q/%q", data, cuts, i, s.header, ref.header)
		}
	}
}

// The strict reader finds lines with IndexByte; it must accept, refuse (with
// the same error) and keep the same header as a byte-at-a-time reading, for
// every mix of CR, LF and text, long lines and short, cut anywhere.
func TestStrictScanAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab\r\n\r\n:")
	for i := 0; i < 30000; i++ {
		data := make([]byte, rng.IntN(48))
		for j := range data {
			data[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(2) == 0 { // mostly well formed: CR always before LF
			data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r"), nil), []byte("\n"), []byte("\r\n"))
		}
		cuts := []int{rng.IntN(len(data) + 1), rng.IntN(len(data) + 1), rng.IntN(len(data) + 1)}
		slices.Sort(cuts)
		checkStrictAgrees(t, data, cuts, 4+rng.IntN(40), 1+rng.IntN(12))
	}
}

func FuzzStrictScan(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"), 5, 9, 3)
	f.Add([]byte("a\rb\nc\r\n"), 1, 2, 4)
	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2, maxLine int) {
		if maxLine < 1 || maxLine > 1000 {
			return
		}
		cuts := []int{cut1, cut2}
		slices.Sort(cuts)
		checkStrictAgrees(t, data, cuts, 64, maxLine)
	})
}

// seeByByte is bareWatch.see as first written.
func seeByByte(w *bareWatch, p []byte) {
	for _, b := range p {
		if (b == '\n' && w.prev != '\r') || (w.prev == '\r' && b != '\n') {
			if len(w.bare) == maxBareOffsets {
				w.bare = append(w.bare[:0], w.bare[maxBareOffsets/2:]...)
			}
			w.bare = append(w.bare, w.n)
		}
		w.prev = b
		w.n++
	}
}

// The watcher skips from CR or LF to the next; it must note the same bare
// offsets as a byte-at-a-time reading, across writes cut anywhere.
func TestBareWatchAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("ab\r\n\r\n")
	for i := 0; i < 20000; i++ {
		var got, want bareWatch
		for k := rng.IntN(4); k >= 0; k-- {
			p := make([]byte, rng.IntN(30))
			for j := range p {
				p[j] = alphabet[rng.IntN(len(alphabet))]
			}
			got.see(p)
			seeByByte(&want, p)
			if got.n != want.n || got.prev != want.prev || !slices.Equal(got.bare, want.bare) {
				t.Fatalf("after %q: offsets %v n %d, byte at a time %v n %d", p, got.bare, got.n, want.bare, want.n)
			}
		}
	}
}
