package locales

import (
	"runtime"
	"testing"
)

// BenchmarkDetect reports the time per detection of a short complaint and
// the heap the detector's models take once loaded:
//
//	go test -run - -bench Detect -benchtime 200x ./locales
func BenchmarkDetect(b *testing.B) {
	bundle, err := New("en")
	if err != nil {
		b.Fatal(err)
	}
	modelMiB := modelHeap(bundle)
	text := "Pedí una chaqueta hace tres semanas y todavía no ha llegado. La tienda no contesta a mis correos."
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got := bundle.Detect(text); got != "es" {
			b.Fatalf("Detect = %q", got)
		}
	}
	b.ReportMetric(modelMiB, "model-MiB")
}

// modelHeap loads the detector's models, the first time, and returns the
// heap they took.
var modelHeap = func() func(*Bundle) float64 {
	var mib float64
	return func(bundle *Bundle) float64 {
		if mib == 0 {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			bundle.Detect("warm up the models")
			runtime.GC()
			runtime.ReadMemStats(&after)
			mib = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
		}
		return mib
	}
}()
