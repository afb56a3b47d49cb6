package imapd

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"parley/casestore"
	"parley/route"
)

// envInt reads a positive integer knob of a benchmark.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkIMAPScale measures what many closed cases cost the mailbox. It
// fills a store through casestore with PARLEY_BENCH_CLOSED closed cases
// (default 1,000) and PARLEY_BENCH_OPEN open ones (default 1,000; a quarter
// in mediation), one message each, and indexes it once (the log shows how
// long the fill and that first index took). Then, over that store: start,
// the index's start as a daemon restart does it (with heap-MB, the heap one
// started index holds); LIST of every folder; SELECT of an open case and of
// an old closed case (not listed), over real loopback IMAP.
// PARLEY_BENCH_ROUNDS (default 1) repeats these on the one fill, for
// benchstat (Go names the repeats NAME#01...: sed 's/#[0-9]*-/-/' first).
// PARLEY_BENCH_DIR names a new folder to fill instead of a temporary one,
// left behind for measuring the daemon on it.
// Compare the figures at 10,000 and at 1,000,000 closed cases:
//
//	PARLEY_BENCH_CLOSED=10000 PARLEY_BENCH_OPEN=10000 PARLEY_BENCH_ROUNDS=6 go test -run - -bench IMAPScale -benchtime 20x -timeout 1h ./imapd
//	PARLEY_BENCH_CLOSED=1000000 PARLEY_BENCH_OPEN=10000 PARLEY_BENCH_ROUNDS=6 go test -run - -bench IMAPScale -benchtime 20x -timeout 3h ./imapd
func BenchmarkIMAPScale(b *testing.B) {
	closed, open := envInt("PARLEY_BENCH_CLOSED", 1000), envInt("PARLEY_BENCH_OPEN", 1000)
	dir := os.Getenv("PARLEY_BENCH_DIR")
	if dir != "" {
		if _, err := os.Stat(dir); err == nil {
			b.Fatalf("PARLEY_BENCH_DIR %s exists: name a new folder", dir)
		}
	}
	h := newHarness(b, inDir(dir), beforeStart(func(h *harness) {
		start := time.Now()
		seedScale(b, h, closed, open)
		fill := time.Since(start)
		start = time.Now()
		x := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger())
		defer x.watch.Close()
		if err := x.refresh(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(casestore.DBPath(h.dir))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d closed + %d open cases: fill %v, first index %v, file %d MB", closed, open, fill.Round(time.Millisecond),
			time.Since(start).Round(time.Millisecond), st.Size()>>20)
	}))
	c := h.client(nil)

	for range envInt("PARLEY_BENCH_ROUNDS", 1) {
		scaleRound(b, h, c, closed, open)
	}
}

// scaleRound is one round of BenchmarkIMAPScale's measures.
func scaleRound(b *testing.B, h *harness, c *imapclient.Client, closed, open int) {
	openName := func(i int) string {
		n := closed + i%open
		return fmt.Sprintf("Cases/%s-Shop-%d", benchCaseID(n), n)
	}
	b.Run("start", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			x := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger())
			err := x.refresh()
			x.watch.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger())
		defer x.watch.Close()
		if err := x.refresh(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(x)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MB")
	})
	b.Run("LIST", func(b *testing.B) {
		want := open + min(closed, DefaultClosedFolders)
		for i := 0; i < b.N; i++ {
			if l, err := c.List("", "*", nil).Collect(); err != nil || len(l) < want {
				b.Fatalf("LIST: %v, %d folders, want %d or more", err, len(l), want)
			}
		}
	})
	b.Run("SELECT open", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if sel, err := c.Select(openName(i), nil).Wait(); err != nil || sel.NumMessages != 1 {
				b.Fatalf("SELECT %s: %v %+v", openName(i), err, sel)
			}
		}
	})
	b.Run("SELECT old closed", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			name := "Closed/" + benchCaseID(i%max(1, closed-DefaultClosedFolders))
			if sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil || sel.NumMessages != 1 {
				b.Fatalf("EXAMINE %s: %v %+v", name, err, sel)
			}
		}
	})
}

// seedScale writes closed closed cases (closed in the order of their
// numbers) and open open ones, each with one message, through casestore.
func seedScale(b *testing.B, h *harness, closed, open int) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 2000
	for start := 0; start < closed+open; start += batch {
		h.update(func(tx *casestore.Tx) error {
			for i := start; i < min(start+batch, closed+open); i++ {
				id := benchCaseID(i)
				at := t0.Add(time.Duration(i) * time.Minute)
				c := &casestore.Case{ID: id, Created: at, State: casestore.StateOpen, Title: "Broken kettle", Intake: "acme@" + testDomain,
					Consumer: casestore.Party{Role: route.Consumer, Name: "Jan", Email: "jan@consumer.example", Lang: "en"},
					Trader:   casestore.Party{Role: route.Trader, Name: fmt.Sprintf("Shop %d", i), Email: "shop@example.org", Lang: "en"}}
				switch {
				case i < closed:
					c.State, c.Outcome, c.Closed = casestore.StateClosed, casestore.OutcomeResolved, at.Add(time.Hour)
				case i%4 == 0:
					c.State = casestore.StateMediation
				}
				if err := tx.PutCase(c); err != nil {
					return err
				}
				raw := []byte(fmt.Sprintf("From: jan@consumer.example\r\nTo: acme@%s\r\nSubject: [%s] Broken kettle\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <%s@consumer.example>\r\n\r\nThe kettle I ordered arrived broken. I want a refund.\r\n",
					testDomain, id, id))
				if err := putBenchMessage(tx, id, route.Consumer, at, raw); err != nil {
					return err
				}
			}
			return nil
		})
	}
}
