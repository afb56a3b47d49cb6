package evidence

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The regular expressions tooComplex replaced (two passes over every
// message): the reference its counts must agree with.
var (
	refMultipart   = regexp.MustCompile(`(?im)^content-type:\s*multipart/`)
	refContentType = regexp.MustCompile(`(?im)^content-type:`)
)

func refTooComplex(raw []byte) string {
	if n := len(refMultipart.FindAllIndex(raw, maxMultiparts+1)); n > maxMultiparts {
		return fmt.Sprintf("more than %d multipart containers: not parsed as MIME", maxMultiparts)
	}
	if n := len(refContentType.FindAllIndex(raw, maxParts+1)); n > maxParts {
		return fmt.Sprintf("more than %d MIME parts: not parsed as MIME", maxParts)
	}
	return ""
}

func TestTooComplexAgreesWithRegexps(t *testing.T) {
	nested := func(depth int, sep string) []byte {
		var b bytes.Buffer
		for i := 0; i < depth; i++ {
			fmt.Fprintf(&b, "Content-Type:%smultipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", sep, i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\nhi\r\n")
		return b.Bytes()
	}
	flat := func(parts int, name string) []byte {
		var b bytes.Buffer
		b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
		for i := 0; i < parts; i++ {
			fmt.Fprintf(&b, "--x\r\n%s: text/plain\r\n\r\npart %d\r\n", name, i)
		}
		return b.Bytes()
	}
	inputs := map[string][]byte{
		"empty":              nil,
		"no newline":         []byte("content-type: multipart/x"),
		"100 nested":         nested(100, " "),
		"101 nested":         nested(101, " "),
		"101 nested, folded": nested(101, "\r\n\t"),
		"101 nested, CAPS":   bytes.ToUpper(nested(101, "  ")),
		"2000 parts":         flat(1999, "Content-Type"),
		"2001 parts":         flat(2000, "content-TYPE"),
		"not at line start":  bytes.Repeat([]byte("X-Content-Type: multipart/a\r\n"), 300),
		"bare LF":            []byte(strings.Repeat("Content-Type: multipart/a\n", 150)),
		"bare CR only":       []byte(strings.Repeat("Content-Type: multipart/a\r", 150)),
	}
	files, _ := filepath.Glob("testdata/*/*")
	for _, f := range files {
		if raw, err := os.ReadFile(f); err == nil {
			inputs[f] = raw
		}
	}
	for name, raw := range inputs {
		if got, want := tooComplex(raw), refTooComplex(raw); got != want {
			t.Errorf("%s: tooComplex = %q, regexps say %q", name, got, want)
		}
	}
	if tooComplex(nested(101, " ")) == "" || tooComplex(flat(2000, "Content-Type")) == "" {
		t.Error("limits not enforced")
	}
}

func FuzzTooComplex(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed\r\n"))
	f.Add([]byte("content-type:\r\n\tMULTIPART/x\ncontent-type: text/plain"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Few inputs reach the limits; repeat to get there. The unit is cut
		// short and ends a line, so that 2,002 repeats make as many lines in
		// at most ~130 KB: over the megabytes a long line repeated makes, the
		// reference regexps let the fuzzer run a handful of inputs in seconds.
		unit := raw
		if len(unit) > 64 {
			unit = unit[:64]
		}
		unit = append(unit[:len(unit):len(unit)], '\n')
		big := bytes.Repeat(unit, 1+2001/bytes.Count(unit, []byte("\n")))
		for _, b := range [][]byte{raw, big} {
			if got, want := tooComplex(b), refTooComplex(b); got != want {
				t.Fatalf("tooComplex = %q, regexps say %q for %q", got, want, b)
			}
		}
	})
}

func BenchmarkTooComplex(b *testing.B) {
	raw := bytes.Repeat([]byte("Subject: a line of an ordinary message body, with some words in it\r\n"), 80) // ~5 KB
	b.SetBytes(int64(len(raw)))
	b.Run("scan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tooComplex(raw)
		}
	})
	b.Run("regexps", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			refTooComplex(raw)
		}
	})
}
