package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"parley/casestore"
)

// The garbage collector's settings for serve, unless the environment sets
// its own (GOGC, GOMEMLIMIT). Collecting at twice the live heap instead of
// once cuts the daemon's CPU per relayed message by about 6 % (bench/latency
// at 200 msg/s, GOGC=100 vs 200: 7.7/7.3 s vs 7.1/6.9 s of CPU); the soft
// limit makes the collector work harder instead when large mail fills the
// heap: 20 concurrent 20 MB messages (bench/memory.sh) peaked at 250 MB with
// the Go defaults, 287 MB with GOGC=200 alone, 223 MB with both.
const (
	serveGCPercent   = 200
	serveMemoryLimit = 192 << 20
)

func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	log.Debug("garbage collector", "gogc", os.Getenv("GOGC"), "gomemlimit", os.Getenv("GOMEMLIMIT"), "memory_limit", debug.SetMemoryLimit(-1))
}

// mappedReleaseEvery is how often serve drops its mapping of the store
// file's pages (casestore.ReleaseMapped): between two, RSS holds the daemon's
// own memory and the pages it read in those minutes; a page read again costs
// a minor fault from the page cache.
const mappedReleaseEvery = 5 * time.Minute

// releaseMapped runs store.ReleaseMapped at each tick until ctx ends.
func releaseMapped(ctx context.Context, store *casestore.Store, ticks <-chan time.Time, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := store.ReleaseMapped(); err != nil {
				log.Warn("release the store's mapped pages", "err", err)
			}
		}
	}
}
