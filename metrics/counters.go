package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SMTP counts one inbound listener (smtp, lmtp or submission). A nil *SMTP
// counts nothing.
type SMTP struct {
	mail, noMail, refused prometheus.Counter
	messages              *prometheus.CounterVec
	byClass               [6]prometheus.Counter // the usual answer of each class, bound once: 2xx accepted...
	bytes                 prometheus.Counter
	size                  prometheus.Observer
}

// SMTP returns the counters of the listener named listener (nil from a nil
// registry, like every counter set: metrics off).
func (r *Registry) SMTP(listener string) *SMTP {
	if r == nil {
		return nil
	}
	m := &SMTP{
		mail:     r.smtpSessions.WithLabelValues(listener, "mail"),
		noMail:   r.smtpSessions.WithLabelValues(listener, "no_mail"),
		refused:  r.smtpSessions.WithLabelValues(listener, "refused"),
		messages: r.smtpMessages.MustCurryWith(prometheus.Labels{"listener": listener}),
		bytes:    r.smtpBytes.WithLabelValues(listener),
		size:     r.smtpSize.WithLabelValues(listener),
	}
	m.byClass[2] = m.messages.WithLabelValues(ResultAccepted, "2xx")
	m.byClass[4] = m.messages.WithLabelValues(ResultDeferred, "4xx")
	m.byClass[5] = m.messages.WithLabelValues(ResultRejected, "5xx")
	return m
}

// SessionEnded counts a session at its end; mail says whether it delivered
// at least one message.
func (m *SMTP) SessionEnded(mail bool) {
	switch {
	case m == nil:
	case mail:
		m.mail.Inc()
	default:
		m.noMail.Inc()
	}
}

// Refused counts a connection turned away before its session (421 at
// connect: too many connections).
func (m *SMTP) Refused() {
	if m != nil {
		m.refused.Inc()
	}
}

// Message counts the answer to one DATA: its reply code and the bytes read.
func (m *SMTP) Message(code int, size int64) {
	if m == nil {
		return
	}
	class := code / 100
	if class == 2 || class == 4 || class == 5 {
		m.byClass[class].Inc()
	} else {
		m.messages.WithLabelValues("other", "other").Inc() // not an answer go-smtp gives to DATA
	}
	m.bytes.Add(float64(size))
	if class == 2 {
		m.size.Observe(float64(size))
	}
}

// Outbound counts the delivery queue. A nil *Outbound counts nothing.
type Outbound struct {
	delivered, deferred, failed prometheus.Counter
	latency                     prometheus.Observer
}

// Outbound returns the delivery counters.
func (r *Registry) Outbound() *Outbound {
	if r == nil {
		return nil
	}
	return &Outbound{
		delivered: r.deliveries.WithLabelValues("delivered"),
		deferred:  r.deliveries.WithLabelValues("deferred"),
		failed:    r.deliveries.WithLabelValues("failed"),
		latency:   r.relayLatency,
	}
}

// Delivered counts a delivery; relayed is how long since the relayed message
// was accepted (zero for Parley's own mail, which is not timed).
func (m *Outbound) Delivered(relayed time.Duration) {
	if m == nil {
		return
	}
	m.delivered.Inc()
	if relayed > 0 {
		m.latency.Observe(relayed.Seconds())
	}
}

// Deferred counts an attempt that will be retried.
func (m *Outbound) Deferred() {
	if m != nil {
		m.deferred.Inc()
	}
}

// Failed counts a delivery given up.
func (m *Outbound) Failed() {
	if m != nil {
		m.failed.Inc()
	}
}

// Procedure counts failing jobs and timers. A nil *Procedure counts nothing.
type Procedure struct{ jobs, timers *prometheus.CounterVec }

// Procedure returns the procedure's counters.
func (r *Registry) Procedure() *Procedure {
	if r == nil {
		return nil
	}
	return &Procedure{jobs: r.jobFailures, timers: r.timerFailures}
}

func outcome(parked bool) string {
	if parked {
		return "parked"
	}
	return "retried"
}

// JobFailed counts a failed attempt at a job; parked: it will not be retried
// before the next start.
func (m *Procedure) JobFailed(parked bool) {
	if m != nil {
		m.jobs.WithLabelValues(outcome(parked)).Inc()
	}
}

// TimerFailed counts a failed attempt at firing a timer.
func (m *Procedure) TimerFailed(parked bool) {
	if m != nil {
		m.timers.WithLabelValues(outcome(parked)).Inc()
	}
}

// IMAP counts the mediators' sessions and logins. A nil *IMAP counts nothing.
type IMAP struct {
	sessions prometheus.Counter
	logins   *prometheus.CounterVec
}

// IMAP returns the mediator-facing counters.
func (r *Registry) IMAP() *IMAP {
	if r == nil {
		return nil
	}
	return &IMAP{sessions: r.imapSessions, logins: r.logins}
}

// Session counts an IMAP session opened.
func (m *IMAP) Session() {
	if m != nil {
		m.sessions.Inc()
	}
}

// Login counts a login attempt: "success", "failure" or "rate_limited".
func (m *IMAP) Login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

// Translator is a machine translation engine (translate.Engine's methods).
type Translator interface {
	Translate(ctx context.Context, text, from, to string) (string, error)
	Name() string
}

// Translations wraps e so that each call is counted by engine and result;
// a nil engine (translation off) stays nil, and a nil registry returns e.
func (r *Registry) Translations(e Translator) Translator {
	if r == nil || e == nil {
		return e
	}
	return &countedTranslator{Translator: e,
		ok: r.translations.WithLabelValues(strings.ToLower(e.Name()), "ok"), failed: r.translations.WithLabelValues(strings.ToLower(e.Name()), "error")}
}

type countedTranslator struct {
	Translator
	ok, failed prometheus.Counter
}

func (t *countedTranslator) Translate(ctx context.Context, text, from, to string) (string, error) {
	out, err := t.Translator.Translate(ctx, text, from, to)
	if err != nil {
		t.failed.Inc()
	} else {
		t.ok.Inc()
	}
	return out, err
}
