package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"parley/casestore"
	"parley/control"
)

// cmdCompact rewrites the data file with every page full: parley compact.
// It needs the daemon stopped; the file is replaced only once the copy is
// synced and checked.
func cmdCompact(args []string) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := resolved(&cf)
	if err != nil {
		return err
	}
	if _, err := control.Dial(cfg.DataDir); err == nil {
		return fmt.Errorf("compact: parley serve runs on %s: stop it first (compaction rewrites the whole file)", cfg.DataDir)
	}
	rep, err := casestore.Compact(cfg.DataDir, 0)
	if errors.Is(err, casestore.ErrLocked) {
		return fmt.Errorf("compact: %s is held by another parley process: stop it first", cfg.DataDir)
	}
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Printf("compacted %s: %s -> %s in %s\n", casestore.DBPath(cfg.DataDir), fileSize(rep.Before), fileSize(rep.After), rep.Took.Round(100*time.Millisecond))
	return nil
}

func fileSize(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
