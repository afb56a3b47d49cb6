package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"parley/bench/internal/benchd"
)

// profile fetches, in the background, what opt asks for from the daemon's
// pprof handlers: a CPU profile over the middle half of the offer and an
// execution trace of 2 s from its middle. The returned group is done when
// both are written (failures are logged: the figures stand without them).
func profile(ctx context.Context, d *benchd.Daemon, opt options, logf func(string, ...any)) *sync.WaitGroup {
	var wg sync.WaitGroup
	fetch := func(file, path string, delay time.Duration) {
		if file == "" {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if err := fetchDebug(ctx, d.MetricsAddr, path, file); err != nil {
				logf("profile: %v", err)
			}
		}()
	}
	quarter := opt.Duration / 4
	fetch(opt.Profile, fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int((2*quarter).Seconds()))), quarter)
	fetch(opt.Trace, "/debug/pprof/trace?seconds=2", max(0, opt.Duration/2-time.Second))
	return &wg
}

func fetchDebug(ctx context.Context, addr, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", path, resp.Status)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
