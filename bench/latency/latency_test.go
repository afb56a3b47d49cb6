package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestMeasure runs the tool's core for 2 s at 50 messages a second against
// the real daemon, built from this tree, and checks the bookkeeping: every
// acked reply is found relayed exactly once, and the percentiles are in order.
// No figure is compared with a time.
func TestMeasure(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "parley")
	build := exec.Command("go", "build", "-o", bin, "./cmd/parley")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/parley: %v\n%s", err, out)
	}
	opt := options{Parley: bin, Work: t.TempDir(), Rate: 50, Duration: 2 * time.Second, Clients: 4, Size: 2048,
		PerSession: 7, Drain: 30 * time.Second, DrainMax: time.Minute, Settle: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := measure(ctx, opt, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if r.Offered != 100 || r.Acked != r.Offered || r.Refused != 0 {
		t.Errorf("offered %d, acked %d, refused %d (%v); want 100 offered, all acked", r.Offered, r.Acked, r.Refused, r.Errors)
	}
	if r.Relayed != r.Acked || r.Lost != 0 || r.Duplicates != 0 || r.Unacked != 0 || r.Malformed != 0 {
		t.Errorf("relayed %d of %d acked, lost %d, duplicates %d, relayed unacked %d, malformed %d; want each acked reply relayed once",
			r.Relayed, r.Acked, r.Lost, r.Duplicates, r.Unacked, r.Malformed)
	}
	for name, d := range map[string]struct {
		dist
		n int
	}{"accept to relay": {r.AcceptToRelay, r.Relayed}, "due to relay": {r.DueToRelay, r.Relayed},
		"DATA to 250": {r.DataTo250, r.Acked}, "due to start": {r.DueToStart, r.Offered}} {
		if err := ordered(d.dist, d.n); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if r.DataTo250.Min <= 0 || r.DueToRelay.Min <= 0 {
		t.Errorf("DATA to 250 from %v ms, due to relay from %v ms: a 250 and a relay both come after the message is sent",
			r.DataTo250.Min, r.DueToRelay.Min)
	}
	n := 0
	for _, p := range r.Periods {
		n += p.AcceptToRelay.N
	}
	if len(r.Periods) != periods || n != r.Relayed {
		t.Errorf("%d periods holding %d relays; want %d holding all %d", len(r.Periods), n, periods, r.Relayed)
	}
	if runtime.GOOS == "linux" && (r.DaemonCPU <= 0 || r.ToolCPU <= 0) {
		t.Errorf("CPU: daemon %v s, tool %v s; want both read from /proc", r.DaemonCPU, r.ToolCPU)
	}
	if r.AcceptedRate <= 0 || r.AcceptedRate > r.OfferedRate {
		t.Errorf("accepted %v/s of %v offered: want above 0 and not above the offer", r.AcceptedRate, r.OfferedRate)
	}
}

func ordered(d dist, n int) error {
	if d.N != n {
		return fmt.Errorf("%d values, want %d", d.N, n)
	}
	if !(d.Min <= d.P50 && d.P50 <= d.P90 && d.P90 <= d.P99 && d.P99 <= d.P999 && d.P999 <= d.Max) {
		return fmt.Errorf("percentiles out of order: %+v", d)
	}
	return nil
}

func TestDistOf(t *testing.T) {
	var ds []time.Duration
	for i := 1000; i >= 1; i-- { // 1..1000 ms, given in reverse
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := distOf(ds)
	want := dist{N: 1000, Min: 1, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if got != want {
		t.Errorf("distOf(1..1000 ms) = %+v, want %+v", got, want)
	}
	if got := distOf([]time.Duration{7 * time.Millisecond}); got.P50 != 7 || got.P999 != 7 || got.Max != 7 {
		t.Errorf("distOf(7 ms) = %+v, want 7 everywhere", got)
	}
}

func TestFindMarkers(t *testing.T) {
	raw := []byte("Subject: x\r\n\r\nWe looked into it again (LATENCY-0000=\r\n0042).\r\nLATENCY-00000042 LATENCY-00000007 LATENCY-12ab5678\r\n")
	got, bad := findMarkers(raw)
	if fmt.Sprint(got) != "[42 7]" || bad != 1 {
		t.Errorf("findMarkers = %v, %d malformed; want [42 7], 1", got, bad)
	}
}

// TestSummarise checks the counting on made-up samples: a loss, a
// duplicate, a refusal and a relay of a refused message.
func TestSummarise(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(msec int) time.Time { return t0.Add(time.Duration(msec) * time.Millisecond) }
	samples := []sample{
		{due: at(0), start: at(0), data: at(1), ack: at(3), acked: true},
		{due: at(10), start: at(30), data: at(31), ack: at(35), acked: true},
		{due: at(20), start: at(35), data: at(36), ack: at(40), acked: true},
		{due: at(30), start: at(40), err: errors.New("RCPT: 451 try later")},
	}
	arrivals := map[int][]time.Time{0: {at(8)}, 1: {at(50), at(45)}, 3: {at(60)}}
	r := summarise(options{Rate: 100, Duration: 40 * time.Millisecond}, samples, arrivals, 0, "", "")
	if r.Acked != 3 || r.Refused != 1 || r.Relayed != 2 || r.Lost != 1 || r.Duplicates != 1 || r.Unacked != 1 || r.LateStarts != 3 {
		t.Errorf("got %+v", r)
	}
	if r.AcceptToRelay != (dist{N: 2, Min: 5, P50: 5, P90: 10, P99: 10, P999: 10, Max: 10}) {
		t.Errorf("accept to relay %+v, want 5 and 10 ms (the first of the duplicates)", r.AcceptToRelay)
	}
	if r.DueToRelay.Max != 35 || r.DueToStart.Max != 20 {
		t.Errorf("due to relay max %v, due to start max %v; want 35, 20", r.DueToRelay.Max, r.DueToStart.Max)
	}
	if len(r.Periods) != 4 || r.Periods[1].From != 0.01 || r.Periods[1].AcceptToRelay.Max != 10 || r.Periods[3].AcceptToRelay.N != 0 {
		t.Errorf("periods %+v; want one a message, the second from 0.01 s with 10 ms, the refused last one empty", r.Periods)
	}
	if len(r.Errors) != 1 || r.Errors[0].N != 1 {
		t.Errorf("errors %v", r.Errors)
	}
	if r.AcceptedRate != 75 { // 3 acked over 40 ms
		t.Errorf("accepted %v/s, want 75", r.AcceptedRate)
	}
}
