package threading

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixtures in testdata/quotes: NAME.txt is a reply as a client writes it; the
// first line of NAME.want is the new text expected (with \n for newlines).
func TestStripQuotedFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/quotes/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		in, _ := os.ReadFile(f)
		want, err := os.ReadFile(strings.TrimSuffix(f, ".txt") + ".want")
		if err != nil {
			t.Fatal(err)
		}
		exp := strings.ReplaceAll(strings.TrimRight(string(want), "\n"), `\n`, "\n")
		if got := StripQuoted(string(in)); got != exp {
			t.Errorf("%s:\n got %q\nwant %q", filepath.Base(f), got, exp)
		}
	}
}

func TestStripQuotedKeepsInlineReplies(t *testing.T) {
	in := "> Did it arrive?\nNo, it did not.\n> When?\nOn Monday."
	if got := StripQuoted(in); !strings.Contains(got, "No, it did not.") || !strings.Contains(got, "On Monday.") {
		t.Errorf("inline answers lost: %q", got)
	}
	if got := StripQuoted("> only quotes\n> here"); got == "" {
		t.Error("a message of only quotes must not become empty")
	}
}

// BenchmarkStripQuoted: a reply of a few lines above a quoted history, and
// a long message with no history at all (every line is looked at).
func BenchmarkStripQuoted(b *testing.B) {
	var quoted, plain strings.Builder
	quoted.WriteString("Dear customer,\r\n\r\nWe have sent the replacement today by parcel post.\r\nTracking follows tomorrow.\r\n\r\nKind regards,\r\nAcme support\r\n\r\n")
	quoted.WriteString("On Mon, 2 Mar 2026 at 10:00, Parley <case@disputes.example> wrote:\r\n")
	for i := 0; i < 60; i++ {
		quoted.WriteString("> The consumer wrote about the order and the parcel, line " + strings.Repeat("x", i%20) + "\r\n")
		plain.WriteString("We looked into the order again and the parcel left our warehouse, line " + strings.Repeat("x", i%20) + "\r\n")
	}
	for name, text := range map[string]string{"quoted": quoted.String(), "plain": plain.String()} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				StripQuoted(text)
			}
		})
	}
}
