package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"
)

// result is one measurement's figures. Latencies are in milliseconds.
type result struct {
	OfferedRate  float64 `json:"offered_per_s"`
	Duration     string  `json:"duration"`
	Clients      int     `json:"clients"`
	Size         int     `json:"size_bytes"`
	Offered      int     `json:"offered"`
	Acked        int     `json:"acked"`
	Refused      int     `json:"refused"`
	Errors       []count `json:"errors,omitempty"` // why messages were refused, most frequent first
	AcceptedRate float64 `json:"accepted_per_s"`   // acked / (last 250 - first due time, at least the duration)
	Relayed      int     `json:"relayed"`          // acked messages relayed at least once
	RelayedRate  float64 `json:"relayed_per_s"`    // relayed / (last relay - first due time, at least the duration)
	Lost         int     `json:"lost"`             // acked but not relayed before Drain
	Duplicates   int     `json:"duplicates"`       // relays beyond the first of one message
	Unacked      int     `json:"relayed_unacked"`  // relayed although the client got no 250
	Malformed    int     `json:"malformed_markers"`
	Drain        string  `json:"drain"` // how long the sink was idle before the missing relays were counted lost
	LoadStart    string  `json:"loadavg_start,omitempty"`
	LoadEnd      string  `json:"loadavg_end,omitempty"`
	// CPU seconds used by the daemon (from its start) and by this tool
	// (clients and sink together), to tell the two apart on a busy machine.
	DaemonCPU float64 `json:"daemon_cpu_s"`
	ToolCPU   float64 `json:"tool_cpu_s"`
	// DaemonPeakRSS is the daemon's peak resident memory in MiB.
	DaemonPeakRSS float64 `json:"daemon_peak_rss_mib"`
	// AcceptToRelay: from the 250 reaching the client to the relay reaching
	// the sink. DueToRelay: from the message's scheduled send time to the
	// relay, so time spent waiting for a free client counts too.
	AcceptToRelay dist `json:"accept_to_relay_ms"`
	DueToRelay    dist `json:"due_to_relay_ms"`
	// DataTo250: from sending DATA to reading the 250 after the message.
	DataTo250 dist `json:"data_to_250_ms"`
	// DueToStart: from the scheduled send time to a client taking the
	// message up (waiting for a free client); LateStarts counts those
	// taken up 10 ms or more after their time.
	DueToStart dist `json:"due_to_start_ms"`
	LateStarts int  `json:"late_starts"`
	// Periods splits the offer into equal parts by due time, to show
	// whether latency stays level or climbs as the case grows.
	Periods []period `json:"periods"`
}

// periods is how many parts Periods has.
const periods = 5

type period struct {
	From          float64 `json:"from_s"` // due time of its first message, seconds from the start
	AcceptToRelay dist    `json:"accept_to_relay_ms"`
	DataTo250     dist    `json:"data_to_250_ms"`
}

type count struct {
	What string `json:"what"`
	N    int    `json:"n"`
}

// dist is a latency distribution in milliseconds (nearest-rank percentiles).
type dist struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// lateStart is how late a client may take a message up before it counts as late.
const lateStart = 10 * time.Millisecond

func distOf(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ms(ds[max(0, min(i, len(ds)-1))])
	}
	return dist{N: len(ds), Min: ms(ds[0]), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// summarise turns what the clients and the sink saw into the figures.
func summarise(opt options, samples []sample, arrivals map[int][]time.Time, malformed int, load0, load1 string) *result {
	r := &result{OfferedRate: opt.Rate, Duration: opt.Duration.String(), Clients: opt.Clients, Size: opt.Size,
		Offered: len(samples), Malformed: malformed, Drain: fmt.Sprintf("%v (at most %v after the offer)", opt.Drain, opt.DrainMax), LoadStart: load0, LoadEnd: load1}
	if len(samples) == 0 {
		return r
	}
	t0 := samples[0].due
	var lastAck, lastRelay time.Time
	var a2r, d2r, d250, d2s []time.Duration
	errs := map[string]int{}
	parts := make([]struct{ a2r, d250 []time.Duration }, min(periods, len(samples)))
	for i := range samples {
		s := &samples[i]
		part := &parts[i*len(parts)/len(samples)]
		d2s = append(d2s, s.start.Sub(s.due))
		if s.start.Sub(s.due) >= lateStart {
			r.LateStarts++
		}
		if !s.acked {
			r.Refused++
			errs[s.err.Error()]++
			if len(arrivals[i]) > 0 {
				r.Unacked++
			}
			continue
		}
		r.Acked++
		lastAck = later(lastAck, s.ack)
		d250 = append(d250, s.ack.Sub(s.data))
		part.d250 = append(part.d250, s.ack.Sub(s.data))
		arr := arrivals[i]
		if len(arr) == 0 {
			r.Lost++
			continue
		}
		r.Relayed++
		r.Duplicates += len(arr) - 1
		first := slices.MinFunc(arr, func(a, b time.Time) int { return a.Compare(b) })
		lastRelay = later(lastRelay, first)
		a2r = append(a2r, first.Sub(s.ack))
		part.a2r = append(part.a2r, first.Sub(s.ack))
		d2r = append(d2r, first.Sub(s.due))
	}
	for m := range arrivals {
		if m < 0 || m >= len(samples) {
			r.Unacked++ // a marker we never sent
		}
	}
	// Rates over at least the offered duration: a daemon that keeps up
	// accepts at the offered rate, not a little above it.
	end := t0.Add(opt.Duration)
	if r.Acked > 0 {
		r.AcceptedRate = round1(float64(r.Acked) / later(end, lastAck).Sub(t0).Seconds())
	}
	if r.Relayed > 0 {
		r.RelayedRate = round1(float64(r.Relayed) / later(end, lastRelay).Sub(t0).Seconds())
	}
	for what, n := range errs {
		r.Errors = append(r.Errors, count{what, n})
	}
	sort.Slice(r.Errors, func(i, j int) bool {
		if r.Errors[i].N != r.Errors[j].N {
			return r.Errors[i].N > r.Errors[j].N
		}
		return r.Errors[i].What < r.Errors[j].What
	})
	r.AcceptToRelay, r.DueToRelay, r.DataTo250, r.DueToStart = distOf(a2r), distOf(d2r), distOf(d250), distOf(d2s)
	for k, p := range parts {
		r.Periods = append(r.Periods, period{
			From:          ms(samples[k*len(samples)/len(parts)].due.Sub(t0)) / 1e3,
			AcceptToRelay: distOf(p.a2r), DataTo250: distOf(p.d250)})
	}
	return r
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func (r *result) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write figures: %w", err)
	}
	return nil
}

func (r *result) writeTable(w io.Writer) {
	fmt.Fprintf(w, "offered   %7.1f msg/s for %s: %d messages of %d bytes from %d clients (open loop)\n",
		r.OfferedRate, r.Duration, r.Offered, r.Size, r.Clients)
	fmt.Fprintf(w, "accepted  %7.1f msg/s: %d acked with 250, %d refused\n", r.AcceptedRate, r.Acked, r.Refused)
	for i, e := range r.Errors {
		if i == 3 {
			fmt.Fprintf(w, "          ... %d more kinds of error\n", len(r.Errors)-3)
			break
		}
		fmt.Fprintf(w, "          %d x %s\n", e.N, e.What)
	}
	fmt.Fprintf(w, "relayed   %7.1f msg/s: %d of the acked; lost %d (not relayed when the sink had been idle %s), duplicates %d, relayed unacked %d\n",
		r.RelayedRate, r.Relayed, r.Lost, r.Drain, r.Duplicates, r.Unacked)
	if r.LoadStart != "" {
		fmt.Fprintf(w, "load avg  %s at start, %s at end (a shared machine makes the figures indicative)\n", r.LoadStart, r.LoadEnd)
	}
	fmt.Fprintf(w, "daemon    %.1f s of CPU, peak RSS %.0f MiB; this tool %.1f s of CPU\n", r.DaemonCPU, r.DaemonPeakRSS, r.ToolCPU)
	fmt.Fprintf(w, "\n%-44s %6s %8s %8s %8s %8s %8s\n", "latency (ms)", "n", "p50", "p90", "p99", "p99.9", "max")
	row := func(name string, d dist) {
		fmt.Fprintf(w, "%-44s %6d %8.1f %8.1f %8.1f %8.1f %8.1f\n", name, d.N, d.P50, d.P90, d.P99, d.P999, d.Max)
	}
	row("accept to relay (250 at client -> sink)", r.AcceptToRelay)
	row("due to relay (scheduled send -> sink)", r.DueToRelay)
	row("DATA to 250 (SMTP answer to the message)", r.DataTo250)
	row("due to start (waiting for a free client)", r.DueToStart)
	fmt.Fprintf(w, "late starts (10 ms or more after due): %d\n", r.LateStarts)
	fmt.Fprintf(w, "\n%-12s %10s %10s %10s %10s %10s\n", "by due time", "relayed", "a2r p50", "a2r p99", "a2r max", "250 p99")
	for _, p := range r.Periods {
		fmt.Fprintf(w, "%-12s %10d %10.1f %10.1f %10.1f %10.1f\n", fmt.Sprintf("from %.1f s", p.From),
			p.AcceptToRelay.N, p.AcceptToRelay.P50, p.AcceptToRelay.P99, p.AcceptToRelay.Max, p.DataTo250.P99)
	}
}
