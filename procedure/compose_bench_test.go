package procedure

import (
	"strings"
	"testing"
)

// BenchmarkRenderBody: the body of a relay of a 5 KB reply.
func BenchmarkRenderBody(b *testing.B) {
	text := strings.Repeat("We looked into the order again; the parcel left our warehouse on Monday.\n", 70)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := renderBody(text, nil); err != nil {
			b.Fatal(err)
		}
	}
}
