package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"parley/casestore"
)

// serve sets the collector unless the operator's environment does.
func TestTuneGCYieldsToTheEnvironment(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) }()

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(log)
	if p := debug.SetGCPercent(100); p != serveGCPercent {
		t.Errorf("GC percent %d, want %d", p, serveGCPercent)
	}
	if l := debug.SetMemoryLimit(-1); l != serveMemoryLimit {
		t.Errorf("memory limit %d, want %d", l, serveMemoryLimit)
	}

	debug.SetGCPercent(50)
	debug.SetMemoryLimit(1 << 30)
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	tuneGC(log)
	if p := debug.SetGCPercent(100); p != 50 {
		t.Errorf("GOGC=50 in the environment: GC percent %d", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 1<<30 {
		t.Errorf("GOMEMLIMIT=1GiB in the environment: limit %d", l)
	}
}

// residentFile is the process's RssFile (/proc/self/status) in kB.
func residentFile(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, v, _ := strings.Cut(string(status), "\nRssFile:")
	var kb int64
	if _, err := fmt.Sscan(v, &kb); err != nil {
		t.Fatalf("RssFile in /proc/self/status: %v", err)
	}
	return kb
}

// TestReleaseMappedAtEachTick: serve's loop drops the store file's pages a
// read mapped at a tick, and ends with its context.
func TestReleaseMappedAtEachTick(t *testing.T) {
	store, err := casestore.Open(t.TempDir(), casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var sums []string
	err = store.Update(func(tx *casestore.Tx) error {
		for i := range 2000 {
			v := []byte(fmt.Sprintf("%04d%s", i, strings.Repeat("x", 4096)))
			sum := fmt.Sprintf("%x", sha256.Sum256(v))
			sums = append(sums, sum)
			if err := tx.PutRawInline(sum, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := residentFile(t)
	if err := store.View(func(tx *casestore.Tx) error {
		for _, sum := range sums {
			if len(tx.RawInline(sum)) != 4100 {
				return fmt.Errorf("content %s lost", sum)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mapped := residentFile(t) - before
	if mapped < 4000 {
		t.Fatalf("reading 8 MB mapped %d kB", mapped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ticks, done := make(chan time.Time), make(chan struct{})
	go func() {
		defer close(done)
		releaseMapped(ctx, store, ticks, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	ticks <- time.Now()
	ticks <- time.Now() // taken once the first release is done
	if left := residentFile(t) - before; left > mapped/4 {
		t.Errorf("after a tick %d of %d kB still mapped", left, mapped)
	}
	cancel()
	<-done
}
