package outbound

import (
	"sync/atomic"
	"testing"
	"time"

	"parley/casestore"
)

// TestInDoubtBound checks that with max_in_doubt = 1 no two deliveries are
// ever between their final dot and their logged reply at once, so a crash
// can send at most one message twice, while eight workers deliver; and that
// without the bound they are (the test can see the difference).
func TestInDoubtBound(t *testing.T) {
	for _, tc := range []struct {
		bound   int
		wantMax func(int32) bool
	}{
		{1, func(n int32) bool { return n == 1 }},
		{0, func(n int32) bool { return n > 1 }},
	} {
		s := startSink(t, false)
		var now, most atomic.Int32
		s.afterDot = func() {
			n := now.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(3 * time.Millisecond) // a next hop's commit before its 250
			now.Add(-1)
		}
		cfg := baseConfig(s.addr)
		cfg.Concurrency, cfg.MaxInDoubt = 8, tc.bound
		e := startQueue(t, t.TempDir(), cfg, nil)
		ids := e.add(t, 40)
		for _, id := range ids {
			e.waitState(t, id, casestore.OutSent)
		}
		if got := most.Load(); !tc.wantMax(got) {
			t.Errorf("max_in_doubt %d: %d deliveries in doubt at once", tc.bound, got)
		}
		t.Logf("max_in_doubt %d: at most %d in doubt at once; %d delivered", tc.bound, most.Load(), s.count())
		e.close()
	}
}
