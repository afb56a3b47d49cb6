package imapd

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"parley/casestore"
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
// a case of PARLEY_BENCH_MESSAGES (default 5,000): from the messages the
// commit named (incremental, whose cost must not grow with the case), and by
// re-reading the case whole as at start (full), for comparison. The case
// folder is open (as a session's SELECT leaves it), and the bench's index is
// the only one following the store. Besides the time (the index's commit and
// fsync included) it reports the process's CPU time per refresh.
//
//	go test -run - -bench BusyCaseRefresh -benchtime 100x ./imapd
//	PARLEY_BENCH_MESSAGES=500 go test -run - -bench BusyCaseRefresh -benchtime 100x ./imapd
func BenchmarkBusyCaseRefresh(b *testing.B) {
	msgs := 5000
	if v, err := strconv.Atoi(os.Getenv("PARLEY_BENCH_MESSAGES")); err == nil && v > 0 {
		msgs = v
	}
	h := newHarness(b, beforeStart(func(h *harness) { seedBench(b, h, 1, msgs) }))
	h.stop()
	x := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger())
	defer x.watch.Close()
	if err := x.refresh(); err != nil {
		b.Fatal(err)
	}
	id := benchCaseID(0)
	m, err := x.open(caseFolderKey(id))
	if err != nil {
		b.Fatal(err)
	}
	defer x.release(m)
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "incremental", true: "full"}[full]
		b.Run(name, func(b *testing.B) {
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				h.addMessage(id, "trader", []byte(fmt.Sprintf("From: shop@example.org\r\nSubject: more\r\nMessage-ID: <busy.%s.%d@example.org>\r\n\r\nMore.\r\n", name, i)))
				changes, through := x.watch.TakeThrough()
				if len(changes) != 1 || len(changes[0].Messages) != 1 {
					b.Fatalf("the commit named %+v, want one message of one case", changes)
				}
				before := processCPU(b)
				b.StartTimer()
				x.syncMu.Lock()
				err := x.syncAll(changes, full, through)
				x.syncMu.Unlock()
				b.StopTimer()
				cpu += processCPU(b) - before
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	// The index's own work, without the commit and fsync that dominate the
	// time above on a busy disk: the case's sync in a transaction rolled
	// back after it.
	b.Run("incremental-tx", func(b *testing.B) {
		errMeasured := errors.New("measured")
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			h.addMessage(id, "trader", []byte(fmt.Sprintf("From: shop@example.org\r\nSubject: more\r\nMessage-ID: <busy.tx.%d@example.org>\r\n\r\nMore.\r\n", i)))
			changes, _ := x.watch.TakeThrough()
			if len(changes) != 1 || len(changes[0].Messages) != 1 {
				b.Fatalf("the commit named %+v, want one message of one case", changes)
			}
			err := h.store.Update(func(tx *casestore.Tx) error {
				b.StartTimer()
				r, _, err := x.syncCase(tx, changes[0], false)
				b.StopTimer()
				if err == nil && len(r.adds[caseFolderKey(id)]) != 1 {
					err = fmt.Errorf("indexed %+v, want one message", r.adds)
				}
				return cmp.Or(err, errMeasured)
			})
			if !errors.Is(err, errMeasured) {
				b.Fatal(err)
			}
		}
	})
}

// processCPU is the CPU time the process spent so far, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
