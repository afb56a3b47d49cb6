package metrics

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreCounts are the store's gauges, read at each scrape.
type StoreCounts struct {
	OutboundQueued int
	OldestQueued   time.Time // zero when the queue is empty
	Jobs           int
	Timers         int
	ParkedTimers   int
}

// StoreSource reads the store for the gauges. Counts must be cheap (it runs
// at every scrape); CaseStates is cached for CaseStatesTTL.
type StoreSource struct {
	Counts     func() (StoreCounts, error)
	CaseStates func() (map[string]int, error)
	// Commits reads the group committer's counters; nil shows none.
	Commits func() CommitCounts
}

// CommitCounts are the group committer's counters since the daemon started.
type CommitCounts struct {
	Commits, Callers, PageWrites uint64
	CommitTime, WriteTime        time.Duration
}

// WatchStore registers the gauges computed from src at scrape time.
func (r *Registry) WatchStore(src StoreSource, log *slog.Logger) {
	r.reg.MustRegister(&storeCollector{src: src, now: r.opts.Now, ttl: r.opts.CaseStatesTTL, log: log})
}

var (
	descQueued = prometheus.NewDesc("parley_outbound_queue_messages",
		"Outbound messages waiting for delivery.", nil, nil)
	descOldest = prometheus.NewDesc("parley_outbound_queue_oldest_age_seconds",
		"Age of the oldest message waiting for delivery; 0 when none waits.", nil, nil)
	descJobs = prometheus.NewDesc("parley_procedure_jobs_pending",
		"Committed procedure jobs (messages to handle) not yet processed.", nil, nil)
	descTimers = prometheus.NewDesc("parley_procedure_timers_pending",
		"Procedure timers scheduled (deadlines and reminders of open cases).", nil, nil)
	descParked = prometheus.NewDesc("parley_procedure_timers_parked",
		"Timers taken out of the schedule after failing too often, until the next start.", nil, nil)
	descCases = prometheus.NewDesc("parley_cases",
		"Cases by procedure state (recounted at most every 30s by default).", []string{"state"}, nil)
	descCommits = prometheus.NewDesc("parley_store_commits_total",
		"Commits of the store (each one fsync); callers_total / commits_total is the mean group size.", nil, nil)
	descCallers = prometheus.NewDesc("parley_store_commit_callers_total",
		"Transactions (SMTP intake, procedure steps, delivery records) carried by those commits.", nil, nil)
	descPageWrites = prometheus.NewDesc("parley_store_page_writes_total",
		"Page writes of those commits (a page, or a run of overflow pages, each).", nil, nil)
	descCommitTime = prometheus.NewDesc("parley_store_commit_seconds_total",
		"Time the store's one writer spent in transactions (work, writes, fsyncs); its rate near 1 means writes wait for it.", nil, nil)
	descWriteTime = prometheus.NewDesc("parley_store_write_seconds_total",
		"Part of the commit time spent writing pages and the meta page, each followed by fdatasync; divided by page_writes_total, the disk's cost of a page.", nil, nil)
	descScrapeErr = prometheus.NewDesc("parley_store_scrape_errors_total",
		"Failures to read the store for these gauges.", nil, nil)
)

// storeCollector computes the store gauges when Prometheus scrapes: the
// counts walk only the queue, job and timer indexes; the cases by state
// need every case row, so that answer is kept for ttl.
type storeCollector struct {
	src StoreSource
	now func() time.Time
	ttl time.Duration
	log *slog.Logger

	mu       sync.Mutex
	states   map[string]int
	statesAt time.Time
	errs     float64
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descOldest, descJobs, descTimers, descParked, descCases, descCommits, descCallers, descPageWrites, descCommitTime, descWriteTime, descScrapeErr} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock() // one scrape at a time reads the store
	defer c.mu.Unlock()
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if n, err := c.src.Counts(); err != nil {
		c.failed("store counts", err)
	} else {
		age := 0.0
		if !n.OldestQueued.IsZero() {
			age = max(now.Sub(n.OldestQueued).Seconds(), 0)
		}
		gauge(descQueued, float64(n.OutboundQueued))
		gauge(descOldest, age)
		gauge(descJobs, float64(n.Jobs))
		gauge(descTimers, float64(n.Timers))
		gauge(descParked, float64(n.ParkedTimers))
	}
	if c.states == nil || now.Sub(c.statesAt) >= c.ttl {
		if states, err := c.src.CaseStates(); err != nil {
			c.failed("cases by state", err)
		} else {
			for state := range c.states {
				if _, ok := states[state]; !ok {
					states[state] = 0 // emptied: shown as 0, not dropped
				}
			}
			c.states, c.statesAt = states, now
		}
	}
	for state, n := range c.states {
		gauge(descCases, float64(n), state)
	}
	if c.src.Commits != nil {
		n := c.src.Commits()
		ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(n.Commits))
		ch <- prometheus.MustNewConstMetric(descCallers, prometheus.CounterValue, float64(n.Callers))
		ch <- prometheus.MustNewConstMetric(descPageWrites, prometheus.CounterValue, float64(n.PageWrites))
		ch <- prometheus.MustNewConstMetric(descCommitTime, prometheus.CounterValue, n.CommitTime.Seconds())
		ch <- prometheus.MustNewConstMetric(descWriteTime, prometheus.CounterValue, n.WriteTime.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.CounterValue, c.errs)
}

func (c *storeCollector) failed(what string, err error) {
	c.errs++
	if c.log != nil {
		c.log.Warn("metrics: cannot read "+what, "err", err)
	}
}
