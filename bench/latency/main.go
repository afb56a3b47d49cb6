// Command latency measures how long Parley takes to relay a trader's reply
// once it has said 250 for it, under a steady offered rate into one case
// (issue 13, goal 2). It is driven by bench/latency.sh.
//
// It starts `parley serve` with the default configuration (only the
// listening addresses, the data folder, the domain and the smarthost are
// set; the smarthost is this tool's own SMTP sink on 127.0.0.1), opens one
// case, then offers RATE trader replies a second for DURATION from CLIENTS
// SMTP sessions (RFC 5321; several messages per session, RSET between), each
// reply carrying a unique marker. The sink notes when each relay to the
// consumer arrives.
//
// Pacing is open-loop: message i is due at start + i/RATE whatever happened
// to the ones before it. A message that leaves late because every client was
// busy is also measured from its due time, so overload shows in the figures
// instead of being hidden by the senders slowing down (coordinated omission).
//
// Loopback only. The figures are for reading, nothing here asserts a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parley/bench/internal/benchd"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("latency: %v", err)
	}
}

func run() error {
	var opt options
	rate, err := benchd.EnvFloat("RATE", 400)
	if err != nil {
		return err
	}
	dur, err := benchd.EnvDuration("DURATION", 20*time.Second)
	if err != nil {
		return err
	}
	clients, err := benchd.EnvInt("CLIENTS", 16)
	if err != nil {
		return err
	}
	size, err := benchd.EnvInt("SIZE", 5120)
	if err != nil {
		return err
	}
	flag.StringVar(&opt.Parley, "parley", "", "the parley binary (required)")
	flag.Float64Var(&opt.Rate, "rate", rate, "offered trader replies per second (env RATE)")
	flag.DurationVar(&opt.Duration, "duration", dur, "how long to offer them (env DURATION: a Go duration or seconds)")
	flag.IntVar(&opt.Clients, "clients", clients, "concurrent SMTP sessions (env CLIENTS)")
	flag.IntVar(&opt.Size, "size", size, "bytes per message (env SIZE)")
	flag.BoolVar(&opt.NoIMAP, "no-imap", false, "start the daemon without its IMAP listener (and IMAP index)")
	flag.IntVar(&opt.PerSession, "per-session", 100, "messages per SMTP session before QUIT and a new connection")
	flag.DurationVar(&opt.Drain, "drain", 30*time.Second, "after the offer, a missing relay counts as lost once the sink had nothing for this long")
	flag.DurationVar(&opt.DrainMax, "drain-max", 15*time.Minute, "and at the most this long after the offer")
	flag.DurationVar(&opt.Settle, "settle", time.Second, "after every relay arrived, how long to keep listening for duplicates")
	flag.StringVar(&opt.Config, "config", "", "run the daemon with this configuration file (default: the embedded one; the tool's flags override addresses)")
	flag.StringVar(&opt.Profile, "profile", "", "write a CPU profile of the daemon over the middle half of the offer to this file")
	flag.StringVar(&opt.Trace, "trace", "", "write a 2 s execution trace of the daemon from mid-offer to this file (go tool trace)")
	work := flag.String("work", "", "folder for the daemon's data and log (default: a temporary one, removed afterwards)")
	asJSON := flag.Bool("json", false, "print the figures as JSON")
	flag.Parse()
	if opt.Parley == "" {
		return fmt.Errorf("-parley BIN is required (bench/latency.sh builds one)")
	}
	opt.Work = *work
	if opt.Work == "" {
		d, err := os.MkdirTemp("", "parley-latency-")
		if err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
		defer os.RemoveAll(d)
		opt.Work = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stderr, "--- ", 0)
	res, err := measure(ctx, opt, logger.Printf)
	if err != nil {
		return err
	}
	if *asJSON {
		return res.writeJSON(os.Stdout)
	}
	res.writeTable(os.Stdout)
	return nil
}
