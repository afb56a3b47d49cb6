package smtpclient

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// The run-copying dotWriter writes exactly what net/textproto's DotWriter
// writes, for content made of the bytes that matter (dots, CR, LF) in any
// mix and cut into writes at any place.
func TestDotWriterAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("a.\r\nb.")
	for i := 0; i < 20000; i++ {
		content := make([]byte, rng.IntN(40))
		for j := range content {
			content[j] = alphabet[rng.IntN(len(alphabet))]
		}
		var want, got bytes.Buffer
		ww := bufio.NewWriter(&want)
		tw := textproto.NewWriter(ww).DotWriter()
		gw := &dotWriter{w: bufio.NewWriter(&got)}
		rest := content
		for len(rest) > 0 {
			k := 1 + rng.IntN(len(rest))
			tw.Write(rest[:k])
			if n, err := gw.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write(%q) = %d, %v", rest[:k], n, err)
			}
			rest = rest[k:]
		}
		tw.Close()
		if err := gw.Close(); err != nil {
			t.Fatal(err)
		}
		if want.String() != got.String() {
			t.Fatalf("content %q:\ntextproto %q\ndotWriter %q", content, want.String(), got.String())
		}
	}
}

func BenchmarkDotWriter(b *testing.B) {
	line := bytes.Repeat([]byte("La de da de da 1234567890. "), 3)
	var content []byte
	for len(content) < 5120 {
		content = append(append(content, line...), "\r\n"...)
	}
	for _, impl := range []string{"textproto", "runs"} {
		b.Run(impl, func(b *testing.B) {
			w := bufio.NewWriterSize(&discard{}, 16384)
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				if impl == "textproto" {
					d := textproto.NewWriter(w).DotWriter()
					d.Write(content)
					d.Close()
				} else {
					d := &dotWriter{w: w}
					d.Write(content)
					d.Close()
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Content of bare CRs and no LF costs time in proportion to its length.
func BenchmarkDotWriterBareCR(b *testing.B) {
	content := bytes.Repeat([]byte("\r"), 16384)
	w := bufio.NewWriterSize(&discard{}, 16384)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		d := &dotWriter{w: w}
		d.Write(content)
		d.Close()
	}
}
