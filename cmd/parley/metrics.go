package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/metrics"
)

// monitor is the daemon's observability: the registry (nil when [metrics]
// listen is empty: nothing is counted) and the health behind /healthz.
type monitor struct {
	reg    *metrics.Registry
	health *metrics.Health
	srv    *http.Server
	addr   net.Addr // where srv listens
}

// startMonitor builds the registry over the store and, when configured,
// serves /metrics, /healthz and (on loopback) /debug/pprof/.
func startMonitor(cfg config.Config, store *casestore.Store, log *slog.Logger) (*monitor, error) {
	m := &monitor{health: metrics.NewHealth()}
	m.health.Down("parley", "starting") // until serve has started every listener
	m.health.Check("store", func() error { return store.View(func(*casestore.Tx) error { return nil }) })
	if cfg.Metrics.Listen == "" {
		return m, nil
	}
	m.reg = metrics.New(metrics.Options{Now: store.Now})
	m.reg.WatchStore(metrics.StoreSource{
		Counts: func() (n metrics.StoreCounts, err error) {
			err = store.View(func(tx *casestore.Tx) error {
				c, err := tx.Counts()
				n = metrics.StoreCounts(c)
				return err
			})
			return n, err
		},
		CaseStates: func() (states map[string]int, err error) {
			err = store.View(func(tx *casestore.Tx) (err error) { states, err = tx.CaseStates(); return err })
			return states, err
		},
		Commits: func() metrics.CommitCounts { return metrics.CommitCounts(store.CommitStats()) },
	}, log)
	l, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen metrics (metrics.listen %s): %w", cfg.Metrics.Listen, err)
	}
	m.addr = l.Addr()
	pprof := metrics.PprofAllowed(m.addr)
	m.srv = &http.Server{Handler: metrics.Handler(m.reg, m.health, pprof),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelInfo)}
	go func() {
		if err := m.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics served", "addr", "http://"+l.Addr().String()+"/metrics", "pprof", pprof)
	return m, nil
}

// serving runs a listener's Serve, marked up in /healthz until it returns.
func (m *monitor) serving(name string, serve func() error) error {
	stopped := m.health.Serving(name)
	err := serve()
	stopped(err)
	return err
}

// close stops the HTTP listener (last, so /healthz says 503 during shutdown).
func (m *monitor) close() {
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.srv.Shutdown(ctx)
	}
}
