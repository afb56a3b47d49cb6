package intent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley/intent"
)

// TestReplyTables reads testdata/replies/LANG.txt: replies as people of each
// language write them, with the intent they state.
func TestReplyTables(t *testing.T) {
	r := reader(t)
	files, err := filepath.Glob("testdata/replies/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	all := []intent.Kind{intent.Resolved, intent.Mediation, intent.Wait, intent.Withdraw, intent.Accept, intent.Reject, intent.Undo}
	for _, f := range files {
		lang := strings.TrimSuffix(filepath.Base(f), ".txt")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for n, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			cols := strings.SplitN(line, "\t", 3)
			if len(cols) != 3 {
				t.Errorf("%s:%d: want INTENT<TAB>MORE<TAB>TEXT", f, n+1)
				continue
			}
			rows++
			want := intent.Kind(cols[0])
			if want == "-" {
				want = ""
			}
			rd := r.Read(cols[2], lang)
			got, _ := rd.One(all...)
			if got != want || rd.More != (cols[1] == "more") {
				t.Errorf("%s:%d %q: %q (intents %v) more=%v, want %q more=%v", f, n+1, cols[2], got, rd.Intents, rd.More, want, cols[1] == "more")
			}
		}
		if rows < 14 {
			t.Errorf("%s: %d rows, want at least 14", f, rows)
		}
	}
}
