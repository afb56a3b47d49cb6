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
