// Package metrics owns Parley's observability: one Prometheus registry of its
// own (never the global one) with the Go and process collectors, the metric
// definitions, the counters handed to the packages that count (nil-safe, so a
// package built without metrics counts nothing), the scrape-time gauges read
// from the store, the health state behind /healthz, and the HTTP handler that
// serves them with net/http/pprof on loopback. Names follow the Prometheus
// naming conventions (units in the name, _total for counters) and the
// exposition is the Prometheus text format 0.0.4.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options tune the registry; zero values take the defaults.
type Options struct {
	// Now is the clock of ages and caches; nil is time.Now.
	Now func() time.Time
	// CaseStatesTTL is how long the count of cases by state is reused
	// before the cases are read again; default 30s.
	CaseStatesTTL time.Duration
}

// Registry holds every metric of one daemon.
type Registry struct {
	reg  *prometheus.Registry
	opts Options

	smtpSessions *prometheus.CounterVec
	smtpMessages *prometheus.CounterVec
	smtpBytes    *prometheus.CounterVec
	smtpSize     *prometheus.HistogramVec

	deliveries   *prometheus.CounterVec
	relayLatency prometheus.Histogram

	jobFailures   *prometheus.CounterVec
	timerFailures *prometheus.CounterVec

	imapSessions prometheus.Counter
	logins       *prometheus.CounterVec

	translations *prometheus.CounterVec
}

// Results and code classes, the label values the counters use.
const (
	ResultAccepted = "accepted" // a message answered 2xx
	ResultDeferred = "deferred" // 4xx: the sender tries again
	ResultRejected = "rejected" // 5xx
)

// New builds the registry with every metric defined.
func New(opts Options) *Registry {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CaseStatesTTL <= 0 {
		opts.CaseStatesTTL = 30 * time.Second
	}
	r := &Registry{reg: prometheus.NewRegistry(), opts: opts}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		r.reg.MustRegister(c)
		return c
	}
	r.smtpSessions = counter("parley_smtp_sessions_total",
		"SMTP sessions by listener and how they ended: mail (a message accepted), no_mail, or refused at connect (connection limits).",
		"listener", "result")
	r.smtpMessages = counter("parley_smtp_messages_total",
		"Messages whose DATA was answered, by listener, result (accepted, deferred, rejected) and reply code class.",
		"listener", "result", "code_class")
	r.smtpBytes = counter("parley_smtp_received_bytes_total",
		"Bytes of message content received in DATA, whatever the answer.", "listener")
	r.smtpSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_smtp_message_size_bytes", Help: "Size of accepted messages.",
		Buckets: prometheus.ExponentialBuckets(1024, 4, 9), // 1 KiB to 64 MiB
	}, []string{"listener"})
	r.deliveries = counter("parley_outbound_deliveries_total",
		"Outbound delivery attempts by result: delivered, deferred (retried later) or failed (given up, or 5xx).", "result")
	r.relayLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "parley_relay_latency_seconds", Help: "From the 250 that accepted a party's message to the delivery of its relay.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	})
	r.jobFailures = counter("parley_procedure_job_failures_total",
		"Failed attempts at a procedure job, by outcome: retried, or parked until the next start.", "outcome")
	r.timerFailures = counter("parley_procedure_timer_failures_total",
		"Failed attempts at firing a procedure timer, by outcome: retried, or parked until the next start.", "outcome")
	r.imapSessions = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_imap_sessions_total", Help: "IMAP sessions opened by mediators' clients."})
	r.logins = counter("parley_mediator_logins_total",
		"Mediator logins (IMAP and submission share them) by result: success, failure, rate_limited.", "result")
	r.translations = counter("parley_translation_calls_total",
		"Machine translation calls by engine and result (ok, error).", "engine", "result")
	r.reg.MustRegister(r.smtpSize, r.relayLatency, r.imapSessions)
	for _, o := range []string{"retried", "parked"} {
		r.jobFailures.WithLabelValues(o)
		r.timerFailures.WithLabelValues(o)
	}
	for _, res := range []string{"success", "failure", "rate_limited"} {
		r.logins.WithLabelValues(res)
	}
	return r
}

// Gatherer is what the /metrics handler exposes (tests gather from it too).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }
