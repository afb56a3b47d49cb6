package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"parley/bench/internal/benchd"
	"parley/bench/internal/mailsink"
	"parley/casestore"
	"parley/control"
)

// options are what one run measures with.
type options struct {
	Parley, Latency string // the parley and bench/latency binaries
	Work            string // a fresh folder per size is made in it
	Open            int    // open cases at every size
	Sizes           []int  // closed cases of each store measured, smallest first
	Sweep           int    // retention timers made due for the sweep
	Repeat          int    // timed repeats of each quick operation (the median is kept)
	IngestRate      float64
	IngestFor       time.Duration
	IngestClients   int
	Ready           time.Duration // how long a start (and the IMAP index's first load) may take
	Reuse           bool          // measure the store an earlier run left in Work instead of generating it again
	IMAPWait        time.Duration // how long the IMAP index's first load may take before IMAP is given up
	IMAPAll         bool          // run every phase with IMAP on (default: only the IMAP phase)
	Cold            bool          // drop the page cache before each phase's daemon start
}

// coldStart drops the kernel's page cache when opt.Cold, so the phase that
// follows reads the store from disk as a store larger than memory is read
// (it needs root: /proc/sys/vm/drop_caches).
func coldStart(opt options) error {
	if !opt.Cold {
		return nil
	}
	syscall.Sync() // only clean pages are dropped
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1\n"), 0); err != nil {
		return fmt.Errorf("-cold: drop the page cache: %w (needs root)", err)
	}
	return nil
}

// sweepRuns is how many -reuse runs' sweeps every store holds at least
// (retention timers still pending in as many of its newest closed cases), so
// the sweep is timed on the same number of cases at every size.
const sweepRuns = 5

// mediator is the IMAP account the measurement logs in with.
const (
	mediatorEmail = "mia@mediators.example"
	mediatorPass  = "scale bench secret"
)

// figures are one store's measurements. Times in milliseconds unless named _s.
type figures struct {
	Cases      int     `json:"cases"`
	Closed     int     `json:"closed"`
	Open       int     `json:"open"`
	GenerateS  float64 `json:"generate_s"`
	StartS     float64 `json:"start_s"`           // process start to the SMTP greeting
	RSSStart   float64 `json:"rss_start_mib"`     // VmRSS at the greeting
	StartIMAPS float64 `json:"start_imap_s"`      // the same with IMAP on
	IMAPFirstS float64 `json:"imap_first_list_s"` // login and the first LIST (the index's first load); -1: not within IMAPWait
	RSSIMAP    float64 `json:"rss_imap_mib"`      // VmRSS after the IMAP measurements
	AnonIMAP   float64 `json:"rss_anon_imap_mib"`
	IMAPList   float64 `json:"imap_list_ms"` // LIST "" "Cases/*"
	IMAPListN  int     `json:"imap_list_folders"`
	IMAPSelect float64 `json:"imap_select_ms"` // SELECT of an open case's folder (median of 10 x Repeat)
	// The first SELECT of that folder after the daemon's start.
	IMAPSelectFirst float64 `json:"imap_select_first_ms"`
	ListFirst       float64 `json:"case_list_ms"` // parley case list (the newest 50)
	ListDeep        float64 `json:"case_list_after_ms"`
	Show            float64 `json:"case_show_ms"`
	// The same three through the control socket, without the CLI's own start.
	SockList float64 `json:"socket_case_list_ms"`
	SockDeep float64 `json:"socket_case_list_after_ms"`
	SockShow float64 `json:"socket_case_show_ms"`
	RSSIdle  float64 `json:"rss_idle_mib"`      // VmRSS after the measurements above
	AnonIdle float64 `json:"rss_anon_idle_mib"` // of it, RssAnon (not bbolt's mapped file)
	PeakRSS  float64 `json:"peak_rss_mib"`      // VmHWM then
	SweepN   int     `json:"sweep_cases"`
	SweepS   float64 `json:"sweep_s"` // first retention timer fired to the last purge committed
	// The sweep daemon's commits and page writes a commit: a purge
	// rewrites rows all over the file, more distinct pages in a larger one.
	SweepCommits float64 `json:"sweep_commits"`
	SweepWrites  float64 `json:"sweep_page_writes_per_commit"`
	// Where the sweep's time goes: the writer's time in its transactions,
	// and the part of it writing and fsyncing pages, a page (the disk's
	// cost of a page write, higher when they are spread over a larger file).
	SweepBusyS  float64 `json:"sweep_commit_s"`
	SweepPageUs float64 `json:"sweep_write_us_per_page"`
	Ingest      float64 `json:"ingest_accepted_per_s"`
	Relayed     float64 `json:"ingest_relayed_per_s"`
	IngestPeak  float64 `json:"ingest_peak_rss_mib"`
	FileMiB     float64 `json:"file_mib"`
}

// measureSize generates a store with closed + opt.Open cases in its own
// folder and measures it with three daemon runs: the reads (case list and
// show, IMAP, memory), the retention sweep, then ingest (bench/latency).
func measureSize(ctx context.Context, opt options, closed int, logf func(string, ...any)) (*figures, error) {
	work := filepath.Join(opt.Work, fmt.Sprintf("closed-%d", closed))
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	data := benchd.DataDir(work)
	f := &figures{Cases: closed + opt.Open, Closed: closed, Open: opt.Open}
	g, err := loadGenerated(work)
	if err != nil {
		return nil, err
	}
	if g == nil || !opt.Reuse {
		if err := os.RemoveAll(data); err != nil {
			return nil, fmt.Errorf("remove the store of an earlier run: %w", err)
		}
		logf("%d cases: generating %d closed and %d open in %s", f.Cases, closed, opt.Open, data)
		if g, err = generate(ctx, data, spec{Closed: closed, Open: opt.Open, Now: time.Now(), Kept: sweepRuns * opt.Sweep}, logf); err != nil {
			return nil, err
		}
		if _, err := benchd.CLI(ctx, opt.Parley, data, mediatorPass+"\n", "mediator", "add", "--email", mediatorEmail, "--name", "Mia"); err != nil {
			return nil, err
		}
		if err := g.save(work); err != nil {
			return nil, err
		}
	} else {
		logf("%d cases: reusing the store in %s (generated in %v)", f.Cases, data, g.Took.Round(time.Second))
	}
	f.GenerateS = round(g.Took.Seconds(), 3)
	if len(g.Open) == 0 || g.Deep == "" {
		return nil, errors.New("the store needs at least one open case")
	}
	snk, addr, err := mailsink.Listen("127.0.0.1:0", func([]string, []byte) {})
	if err != nil {
		return nil, err
	}
	defer snk.Close()
	if err := coldStart(opt); err != nil {
		return nil, err
	}
	if err := measureIMAP(ctx, opt, work, addr.String(), g, f, logf); err != nil {
		return nil, err
	}
	if err := coldStart(opt); err != nil {
		return nil, err
	}
	if err := measureReads(ctx, opt, work, addr.String(), g, f, logf); err != nil {
		return nil, err
	}
	if err := coldStart(opt); err != nil {
		return nil, err
	}
	if err := measureSweep(ctx, opt, work, addr.String(), g, f, logf); err != nil {
		return nil, err
	}
	if err := coldStart(opt); err != nil {
		return nil, err
	}
	if err := measureIngest(ctx, opt, work, f, logf); err != nil {
		return nil, err
	}
	st, err := os.Stat(casestore.DBPath(data))
	if err != nil {
		return nil, err
	}
	f.FileMiB = round(float64(st.Size())/(1<<20), 1)
	return f, nil
}

// measureIMAP starts the daemon with IMAP on and times a mediator's login
// and first LIST (the IMAP index's first load), then LIST and SELECT.
func measureIMAP(ctx context.Context, opt options, work, smarthost string, g *generated, f *figures, logf func(string, ...any)) error {
	d, err := benchd.Start(ctx, benchd.Options{Bin: opt.Parley, Dir: work, Smarthost: smarthost, Ready: opt.Ready})
	if err != nil {
		return err
	}
	defer d.Stop()
	f.StartIMAPS = round(d.Greeted.Sub(d.Started).Seconds(), 2)
	logf("daemon with IMAP up in %.2f s; logging in over IMAP", f.StartIMAPS)
	t0 := time.Now()
	imc, err := imapclient.DialInsecure(d.IMAPAddr, nil)
	if err != nil {
		return fmt.Errorf("IMAP: %w", err)
	}
	defer imc.Close()
	list := func() (int, error) {
		l, err := imc.List("", "Cases/*", nil).Collect()
		return len(l), err
	}
	first := make(chan error, 1)
	go func() {
		if err := imc.Login(mediatorEmail, mediatorPass).Wait(); err != nil {
			first <- fmt.Errorf("IMAP LOGIN: %w", err)
			return
		}
		n, err := list()
		f.IMAPListN = n
		first <- err
	}()
	select {
	case err := <-first:
		if err != nil {
			return fmt.Errorf("IMAP LIST: %w", err)
		}
	case <-time.After(max(opt.IMAPWait, time.Second)):
		f.IMAPFirstS = -1
		m := benchd.ReadMemory(d.Pid())
		f.RSSIMAP, f.AnonIMAP = m.RSS, m.Anon
		logf("IMAP: no answer to the first LIST within %v; IMAP figures left out", opt.IMAPWait)
		imc.Close()
		<-first
		return nil
	}
	f.IMAPFirstS = round(time.Since(t0).Seconds(), 2)
	logf("IMAP: first LIST %.2f s, %d case folders", f.IMAPFirstS, f.IMAPListN)
	if f.IMAPList, err = median(opt.Repeat, func() error { _, err := list(); return err }); err != nil {
		return fmt.Errorf("IMAP LIST: %w", err)
	}
	show := g.Open[len(g.Open)/2]
	folders, err := imc.List("", "Cases/"+show+"*", nil).Collect()
	if err != nil || len(folders) != 1 {
		return fmt.Errorf("IMAP LIST of case %s: %d folders, %v", show, len(folders), err)
	}
	sel := func() error {
		sd, err := imc.Select(folders[0].Mailbox, nil).Wait()
		if err == nil && sd.NumMessages == 0 {
			err = fmt.Errorf("folder %s is empty", folders[0].Mailbox)
		}
		return err
	}
	// The first SELECT in a new process touches the folder's pages of the
	// mapped file for the first time (and reads them from disk if the page
	// cache lost them); the ones after are what a mediator working in it
	// waits for. A median of five mixed the two: ten times as many.
	if f.IMAPSelectFirst, err = median(1, sel); err != nil {
		return fmt.Errorf("IMAP SELECT: %w", err)
	}
	if f.IMAPSelect, err = median(10*opt.Repeat, sel); err != nil {
		return fmt.Errorf("IMAP SELECT: %w", err)
	}
	imc.Logout().Wait()
	m := benchd.ReadMemory(d.Pid())
	f.RSSIMAP, f.AnonIMAP = m.RSS, m.Anon
	return nil
}

// measureReads starts the daemon (IMAP off unless IMAPAll) and times the
// start, case list and case show, with its memory.
func measureReads(ctx context.Context, opt options, work, smarthost string, g *generated, f *figures, logf func(string, ...any)) error {
	d, err := benchd.Start(ctx, benchd.Options{Bin: opt.Parley, Dir: work, Smarthost: smarthost, Ready: opt.Ready, NoIMAP: !opt.IMAPAll})
	if err != nil {
		return err
	}
	defer d.Stop()
	f.StartS = round(d.Greeted.Sub(d.Started).Seconds(), 2)
	f.RSSStart = benchd.ReadMemory(d.Pid()).RSS
	logf("daemon up in %.2f s (VmRSS %.1f MiB)", f.StartS, f.RSSStart)
	show := g.Open[len(g.Open)/2]
	cli := func(args ...string) func() error {
		return func() error {
			out, err := benchd.CLI(ctx, opt.Parley, d.DataDir(), "", args...)
			if err == nil && len(out) == 0 {
				err = fmt.Errorf("parley %s printed nothing", strings.Join(args, " "))
			}
			return err
		}
	}
	if f.ListFirst, err = median(opt.Repeat, cli("case", "list", "--json")); err != nil {
		return err
	}
	if f.ListDeep, err = median(opt.Repeat, cli("case", "list", "--json", "--after", g.Deep)); err != nil {
		return err
	}
	if f.Show, err = median(opt.Repeat, cli("case", "show", "--json", show)); err != nil {
		return err
	}
	cl, err := control.Dial(d.DataDir())
	if err != nil {
		return err
	}
	page := func(after string) func() error {
		return func() error {
			p, err := cl.Cases(50, after)
			if err == nil && (len(p.Cases) == 0 || len(p.Cases) > 50) {
				err = fmt.Errorf("case list --after %q: %d cases, want 1 to 50", after, len(p.Cases))
			}
			return err
		}
	}
	if f.SockList, err = median(opt.Repeat, page("")); err != nil {
		return err
	}
	if f.SockDeep, err = median(opt.Repeat, page(g.Deep)); err != nil {
		return err
	}
	if f.SockShow, err = median(opt.Repeat, func() error { _, err := cl.Case(show); return err }); err != nil {
		return err
	}
	m := benchd.ReadMemory(d.Pid())
	f.RSSIdle, f.AnonIdle, f.PeakRSS = m.RSS, m.Anon, m.Peak
	return nil
}

// measureSweep makes the retention timers of the next opt.Sweep unpurged
// cases due, starts the daemon and waits for it to purge them all; the time
// is read from their events.
func measureSweep(ctx context.Context, opt options, work, smarthost string, g *generated, f *figures, logf func(string, ...any)) error {
	data := benchd.DataDir(work)
	armed := time.Now()
	ids, used, err := arm(data, g.Unpurged, opt.Sweep, armed)
	if err != nil {
		return err
	}
	g.Unpurged = g.Unpurged[used:] // a reuse sweeps the next ones, even after a failure
	if err := g.save(work); err != nil {
		return err
	}
	if len(ids) == 0 {
		logf("retention sweep: no case of this store is left to sweep; generate it again (without -reuse) for this figure")
		return nil
	}
	d, err := benchd.Start(ctx, benchd.Options{Bin: opt.Parley, Dir: work, Smarthost: smarthost, Ready: opt.Ready, NoIMAP: !opt.IMAPAll})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(opt.Ready)
	cl, err := control.Dial(data)
	if err != nil {
		d.Stop()
		return err
	}
	// Cases are purged by several workers, not quite in the order they fell
	// due: wait for every one, checking those not yet purged.
	waiting := slices.Clone(ids)
	for {
		for len(waiting) > 0 {
			c, err := cl.Case(waiting[0])
			if err != nil {
				d.Stop()
				return err
			}
			if !c.Purged {
				break
			}
			waiting = waiting[1:]
		}
		if len(waiting) == 0 {
			break
		}
		if time.Now().After(deadline) {
			d.Stop()
			return fmt.Errorf("retention sweep: %d cases (%s first) not purged within %v", len(waiting), waiting[0], opt.Ready)
		}
		select {
		case <-ctx.Done():
			d.Stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The daemon was started for the sweep: its commits are the sweep's
	// (and a few of the start's).
	m, err := d.Metrics("parley_store_commits_total", "parley_store_page_writes_total", "parley_store_commit_seconds_total", "parley_store_write_seconds_total")
	d.Stop()
	if err != nil {
		return err
	}
	n, first, end, err := sweepSpan(data, ids, armed)
	if err != nil {
		return err
	}
	f.SweepN, f.SweepS = n, round(end.Sub(first).Seconds(), 2)
	f.SweepCommits = m["parley_store_commits_total"]
	if f.SweepCommits > 0 {
		f.SweepWrites = round(m["parley_store_page_writes_total"]/f.SweepCommits, 1)
	}
	f.SweepBusyS = round(m["parley_store_commit_seconds_total"], 3)
	if w := m["parley_store_page_writes_total"]; w > 0 {
		f.SweepPageUs = round(m["parley_store_write_seconds_total"]/w*1e6, 1)
	}
	logf("retention sweep: %d of %d cases made due purged in %.2f s", f.SweepN, len(ids), f.SweepS)
	return nil
}

// arm makes the retention timers of the first n cases of candidates not yet
// purged due a moment before now, in order. It returns those cases and how
// many candidates it went through: the oldest of a store's unpurged cases
// reach the end of their retention period as the clock runs, and a daemon
// started since has purged them.
func arm(data string, candidates []string, n int, now time.Time) (ids []string, used int, err error) {
	s, err := casestore.Open(data, casestore.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	err = s.Update(func(tx *casestore.Tx) error {
		ids, used = nil, 0
		var due []*casestore.Case
		for _, id := range candidates {
			if len(due) == n {
				break
			}
			used++
			c, err := tx.Case(id)
			if err != nil {
				return err
			}
			if !c.Purged {
				due = append(due, c)
			}
		}
		for i, c := range due {
			if err := tx.SetTimer(c, casestore.Timer{Kind: "retention", Due: now.Add(-time.Duration(len(due)-i) * time.Millisecond)}); err != nil {
				return err
			}
			if err := tx.PutCase(c); err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		return nil
	})
	return ids, used, err
}

// sweepSpan reads, from the stopped daemon's store, how many of ids were
// purged after armed, when the first of their retention timers fired and
// when the last purge was written.
func sweepSpan(data string, ids []string, armed time.Time) (n int, first, last time.Time, err error) {
	s, err := casestore.Open(data, casestore.Options{ReadOnly: true})
	if err != nil {
		return 0, first, last, err
	}
	defer s.Close()
	err = s.View(func(tx *casestore.Tx) error {
		for _, id := range ids {
			evs, err := tx.Events(id)
			if err != nil {
				return err
			}
			// The purge clears every event's text, the deadline's too: the
			// retention deadline is the one the purge follows.
			for i := 1; i < len(evs); i++ {
				if evs[i].Kind != casestore.EvPurged || evs[i-1].Kind != casestore.EvDeadline || evs[i-1].Time.Before(armed) {
					continue
				}
				n++
				if first.IsZero() || evs[i-1].Time.Before(first) {
					first = evs[i-1].Time
				}
				if evs[i].Time.After(last) {
					last = evs[i].Time
				}
			}
		}
		return nil
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("retention sweep: none of the %d cases made due was purged", len(ids))
	}
	return n, first, last, err
}

// measureIngest runs bench/latency on the store: it starts its own daemon,
// opens a case over SMTP and offers trader replies into it faster than they
// can be taken, so its accepted rate is the ingest rate.
func measureIngest(ctx context.Context, opt options, work string, f *figures, logf func(string, ...any)) error {
	cmd := exec.CommandContext(ctx, opt.Latency, "-parley", opt.Parley, "-work", work, "-json", fmt.Sprintf("-no-imap=%t", !opt.IMAPAll),
		"-rate", fmt.Sprint(opt.IngestRate), "-duration", opt.IngestFor.String(), "-clients", fmt.Sprint(opt.IngestClients))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bench/latency: %w: %s", err, stderr.String())
	}
	var r struct {
		Acked    int     `json:"acked"`
		Accepted float64 `json:"accepted_per_s"`
		Relayed  float64 `json:"relayed_per_s"`
		Lost     int     `json:"lost"`
		Peak     float64 `json:"daemon_peak_rss_mib"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("bench/latency's figures: %w", err)
	}
	if r.Acked == 0 || r.Lost > 0 {
		return fmt.Errorf("ingest: %d messages acked, %d lost", r.Acked, r.Lost)
	}
	f.Ingest, f.Relayed, f.IngestPeak = r.Accepted, r.Relayed, r.Peak
	logf("ingest: %.0f msg/s accepted, %.0f relayed", r.Accepted, r.Relayed)
	return nil
}

// median runs fn n times and returns the median wall time in milliseconds.
func median(n int, fn func() error) (float64, error) {
	ms := make([]float64, 0, n)
	for range max(n, 1) {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ms)
	return round(ms[len(ms)/2], 2), nil
}

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
