package imapd

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchmarkCommitToClient measures how a commit reaches the mailbox with
// PARLEY_BENCH_CASES cases in the store (default 1,000; 5 messages each):
// IDLE is the time from a message's commit (after a quiet spell) to the
// EXISTS an idling client receives; refresh is the index's work for one commit (what each
// commit costs the daemon); LIST and SELECT are as a client sees them.
//
//	PARLEY_BENCH_CASES=10000 go test -run - -bench CommitToClient -benchtime 200x ./imapd
func BenchmarkCommitToClient(b *testing.B) {
	cases := 1000
	if v, err := strconv.Atoi(os.Getenv("PARLEY_BENCH_CASES")); err == nil && v > 0 {
		cases = v
	}
	const perCase = 5
	h := newHarness(b, beforeStart(func(h *harness) { seedBench(b, h, cases, perCase) }), withConfig(func(c *Config) { c.PollInterval = time.Second; c.RefreshGap = 50 * time.Millisecond }))
	folder := fmt.Sprintf("Cases/%s-Shop-7", benchCaseID(7))
	var exists atomic.Uint32
	arrived := make(chan struct{}, 1)
	idler := h.client(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			exists.Store(*d.NumMessages)
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	}})
	sel, err := idler.Select(folder, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	exists.Store(sel.NumMessages)
	c := h.client(nil)
	raw := func(i int) []byte {
		return []byte(fmt.Sprintf("From: shop@example.org\r\nTo: case@%s\r\nSubject: more %d\r\nMessage-ID: <more.%d.%d@example.org>\r\n\r\nMore.\r\n",
			testDomain, i, i, time.Now().UnixNano()))
	}

	b.Run("IDLE", func(b *testing.B) {
		idle, err := idler.Idle()
		if err != nil {
			b.Fatal(err)
		}
		defer func() { idle.Close(); idle.Wait() }()
		for i := 0; i < b.N; i++ {
			// A commit after a quiet spell, as a mediator's case sees it
			// (a stream of commits is taken every RefreshGap).
			b.StopTimer()
			time.Sleep(2 * h.cfg.RefreshGap)
			b.StartTimer()
			want := exists.Load() + 1
			h.addMessage(benchCaseID(7), "trader", raw(i))
			for exists.Load() < want {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					b.Fatalf("no EXISTS %d after 10 s", want)
				}
			}
		}
	})
	b.Run("refresh", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			h.addMessage(benchCaseID(i%cases), "consumer", raw(i))
			b.StartTimer()
			if err := h.srv.idx.refresh(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LIST", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if l, err := c.List("", "*", nil).Collect(); err != nil || len(l) < cases {
				b.Fatalf("LIST: %v, %d folders", err, len(l))
			}
		}
	})
	b.Run("SELECT", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			name := fmt.Sprintf("Cases/%s-Shop-%d", benchCaseID(i%cases), i%cases)
			if _, err := c.Select(name, nil).Wait(); err != nil {
				b.Fatalf("SELECT %s: %v", name, err)
			}
		}
	})
}

// BenchmarkBusyCaseRefresh measures the index's work for one new message in
// a case of 5,000: from the messages the commit named (incremental), and by
// re-reading the case whole as at start (full), for comparison.
//
//	go test -run - -bench BusyCaseRefresh -benchtime 100x ./imapd
func BenchmarkBusyCaseRefresh(b *testing.B) {
	h := newHarness(b, beforeStart(func(h *harness) { seedBench(b, h, 1, 5000) }), withConfig(func(c *Config) { c.PollInterval = time.Hour }))
	id := benchCaseID(0)
	c := h.client(nil)
	if _, err := c.Select(fmt.Sprintf("Cases/%s-Shop-0", id), nil).Wait(); err != nil {
		b.Fatal(err)
	}
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "incremental", true: "full"}[full]
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h.addMessage(id, "trader", []byte(fmt.Sprintf("From: shop@example.org\r\nSubject: more\r\nMessage-ID: <busy.%s.%d@example.org>\r\n\r\nMore.\r\n", name, i)))
				b.StartTimer()
				x := h.srv.idx
				x.syncMu.Lock()
				changes, through := x.watch.TakeThrough()
				err := x.syncAll(changes, full, through)
				x.syncMu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
