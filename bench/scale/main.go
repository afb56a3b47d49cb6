// Command scale measures whether Parley's costs stay flat as the store grows
// to a million cases (issue 13, goal 3). It is driven by bench/scale.sh.
//
// For each size it generates a store through casestore (not through SMTP):
// SCALE_OPEN open cases (10,000; every open state, a message or two and a
// pending clock each) and N closed ones opened over the two years before
// (three messages, five state changes, a closing; those closed more than the
// 183-day retention period ago purged as the daemon leaves them, the others
// holding their raw mail inline, their dedup rows and a retention timer; the
// newest 5 x SCALE_SWEEP closed cases are always among the others, so every
// size has the same sweeps to time). Cases are written 5,000 to a
// transaction. It then starts `parley serve` (default
// configuration, loopback listeners) three times on the store:
//
//  1. reads: the time to the SMTP greeting and VmRSS then; an IMAP login as
//     a mediator and the first LIST "" "Cases/*" (RFC 3501; the IMAP index's
//     first load), then the median of SCALE_REPEAT further LISTs; an open
//     case's folder's first SELECT and the median of 10 x SCALE_REPEAT more
//     (the first touches its pages); the median wall time of `parley case list`
//     (the newest 50), `case list --after` a case 90 % down the list, and
//     `case show` of an open case; VmRSS and VmHWM after all that;
//  2. the retention sweep: SCALE_SWEEP retention timers made due before the
//     start, the time from the first firing to the last purge (from the
//     cases' events), and from the daemon's metrics its commits, page
//     writes a commit, the writer's time in them and writing with fsync a
//     page (what a larger file makes dearer);
//  3. ingest: bench/latency on the store (a case opened over SMTP, trader
//     replies offered faster than taken; its accepted msg/s).
//
// With -cold (root only) the kernel's page cache is dropped before each
// phase, so every figure is that of a store read from disk, as a store larger
// than memory is read; without it a store just generated is mostly in memory.
//
// The file size is taken at the end. It prints one table per size and the
// ratio of the largest to the smallest. Loopback only; nothing here asserts a
// time.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parley/bench/internal/benchd"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("scale: %v", err)
	}
}

func run() error {
	var opt options
	var err error
	ints := map[string]*int{"SCALE_OPEN": &opt.Open, "SCALE_SWEEP": &opt.Sweep, "SCALE_REPEAT": &opt.Repeat, "SCALE_CLIENTS": &opt.IngestClients}
	defaults := map[string]int{"SCALE_OPEN": 10000, "SCALE_SWEEP": 200, "SCALE_REPEAT": 5, "SCALE_CLIENTS": 10}
	for name, p := range ints {
		if *p, err = benchd.EnvInt(name, defaults[name]); err != nil {
			return err
		}
	}
	small, err := benchd.EnvInt("SCALE_SMALL_CLOSED", 1000)
	if err != nil {
		return err
	}
	large, err := benchd.EnvInt("SCALE_CLOSED", 1000000)
	if err != nil {
		return err
	}
	flag.StringVar(&opt.Parley, "parley", "", "the parley binary (required)")
	flag.StringVar(&opt.Latency, "latency", "", "the bench/latency binary (required)")
	flag.Float64Var(&opt.IngestRate, "ingest-rate", 2000, "messages a second offered for the ingest figure (more than are taken)")
	flag.DurationVar(&opt.IngestFor, "ingest-for", 5*time.Second, "how long they are offered")
	flag.DurationVar(&opt.Ready, "ready", 30*time.Minute, "how long a daemon start, the IMAP index's first load or the sweep may take")
	work := flag.String("work", "", "folder for the stores and logs (default: a temporary one, removed afterwards)")
	only := flag.String("sizes", "", "closed cases of each store, comma-separated (default: SCALE_SMALL_CLOSED,SCALE_CLOSED)")
	asJSON := flag.Bool("json", false, "print the figures as JSON")
	flag.DurationVar(&opt.IMAPWait, "imap-wait", 10*time.Minute, "how long the IMAP index's first load may take before the IMAP figures are left out")
	flag.BoolVar(&opt.IMAPAll, "imap-all", false, "keep IMAP on in every phase (default: on only for the IMAP phase, so its index does not weigh on the others)")
	flag.BoolVar(&opt.Cold, "cold", false, "drop the kernel's page cache before each phase, so the store is read from disk as one larger than memory (needs root)")
	flag.BoolVar(&opt.Reuse, "reuse", false, "measure the stores an earlier run left in -work again instead of generating them")
	flag.Parse()
	if opt.Parley == "" || opt.Latency == "" {
		return fmt.Errorf("-parley BIN and -latency BIN are required (bench/scale.sh builds them)")
	}
	opt.Sizes = []int{small, large}
	if *only != "" {
		opt.Sizes = nil
		for _, f := range strings.Split(*only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return fmt.Errorf("-sizes %q: want whole numbers of closed cases", *only)
			}
			opt.Sizes = append(opt.Sizes, n)
		}
	}
	if opt.Open < 1 || opt.Sweep < 0 || opt.Repeat < 1 || opt.IngestClients < 1 {
		return fmt.Errorf("SCALE_OPEN %d, SCALE_SWEEP %d, SCALE_REPEAT %d, SCALE_CLIENTS %d: want at least 1 open case, 1 repeat and 1 client",
			opt.Open, opt.Sweep, opt.Repeat, opt.IngestClients)
	}
	opt.Work = *work
	if opt.Work == "" {
		d, err := os.MkdirTemp("", "parley-scale-")
		if err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
		defer os.RemoveAll(d)
		opt.Work = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "--- ", 0)
	var all []*figures
	for _, n := range opt.Sizes {
		f, err := measureSize(ctx, opt, n, logger.Printf)
		if err != nil {
			return fmt.Errorf("%d closed cases: %w", n, err)
		}
		all = append(all, f)
		if !*asJSON {
			writeTable(os.Stdout, f)
		}
	}
	if *asJSON {
		return writeJSON(os.Stdout, all)
	}
	if len(all) > 1 {
		writeRatios(os.Stdout, all[0], all[len(all)-1])
	}
	return nil
}
