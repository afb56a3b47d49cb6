// Package outbound owns delivery of the mail Parley writes: a persistent queue
// (rows in casestore, scheduled in memory) worked by a bounded pool of workers
// that deliver to a smarthost over SMTP (RFC 5321; STARTTLS RFC 3207; AUTH
// PLAIN RFC 4616), keeping connections open between messages, straight to the
// recipient domains' MX hosts (RFC 5321 section 5.1, null MX RFC 7505,
// opportunistic TLS RFC 7435, MTA-STS RFC 8461) with a limit and a backoff per
// domain, or into a Maildir (the default). Temporary failures are retried with
// exponential backoff and jitter until a give-up age; permanent failures (5xx)
// and expired messages are marked failed and recorded in their case.
package outbound

import (
	"container/heap"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"parley/casestore"
	"parley/metrics"
)

// Config configures delivery.
type Config struct {
	// Delivery is "smarthost", "maildir" or "mx"; empty means smarthost
	// when Smarthost is set, else maildir.
	Delivery    string
	Smarthost   string
	TLS         string // none, starttls, opportunistic
	Username    string
	Password    string
	Outbox      string
	GiveUp      time.Duration
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	Concurrency int
	Timeout     time.Duration
	Hostname    string // EHLO name
	// DKIM signs each message at delivery; nil sends unsigned.
	DKIM *DKIM
	// MaxInDoubt bounds the deliveries between their final dot and the
	// logged reply (indoubt.go): the most a crash can send twice. 0 means
	// no bound (Concurrency). Not applied to direct (MX) delivery.
	MaxInDoubt int
	// Direct delivery (Delivery "mx"): the resolver for MX, addresses and
	// MTA-STS (nil: the system's), the port of MX hosts ("25" when empty)
	// and the sessions at once per recipient domain (4 when 0).
	Resolver          *net.Resolver
	MXPort            string
	DomainConcurrency int
	// Metrics counts deliveries; nil counts nothing.
	Metrics *metrics.Outbound
}

// Option adjusts a queue for tests.
type Option func(*options)

type options struct {
	roots      *x509.CertPool
	policyPort string
}

// WithRootCAs makes direct delivery trust roots instead of the system's,
// for MX certificates and MTA-STS policy fetches (a test CA).
func WithRootCAs(roots *x509.CertPool) Option { return func(o *options) { o.roots = roots } }

// WithPolicyPort fetches MTA-STS policies from port instead of 443.
func WithPolicyPort(port string) Option { return func(o *options) { o.policyPort = port } }

// Transport delivers one message. A *PermanentError means do not retry.
type Transport interface {
	Deliver(ctx context.Context, o *casestore.Outbound, raw io.Reader) error
	Close() error
}

// PermanentError is a delivery failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (p *PermanentError) Error() string { return p.Err.Error() }
func (p *PermanentError) Unwrap() error { return p.Err }

// Queue schedules and delivers outbound rows.
type Queue struct {
	store *casestore.Store
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	newT  func() Transport

	// sent makes a delivery durable as soon as the next hop took it
	// (sentlog.go); nil until Start.
	sent *sentLog
	// doubt bounds the deliveries a crash can duplicate; nil: no bound.
	doubt *inDoubt
	// dests limits and backs off sessions per recipient domain; nil unless
	// delivering by MX.
	dests *destinations

	mu        sync.Mutex
	due       dueHeap
	scheduled map[uint64]bool
	wake      chan struct{}
	work      chan uint64
	wg        sync.WaitGroup
}

// New builds a queue; it delivers nothing until Start.
func New(store *casestore.Store, cfg Config, log *slog.Logger, opts ...Option) *Queue {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	q := &Queue{
		store: store, cfg: cfg, log: log, now: store.Now,
		scheduled: map[uint64]bool{}, wake: make(chan struct{}, 1), work: make(chan uint64),
	}
	if cfg.Delivery != "mx" {
		// Direct delivery talks to many hosts, each taking its own time
		// over the final dot: one slow host must not hold the others.
		q.doubt = newInDoubt(cfg.MaxInDoubt)
	}
	switch {
	case cfg.Delivery == "mx":
		q.newT = q.mx(o)
	case cfg.Delivery == "smarthost" || cfg.Delivery == "" && cfg.Smarthost != "":
		q.newT = func() Transport { return &Smarthost{cfg: cfg, log: log} }
	default:
		md := &Maildir{Dir: cfg.Outbox}
		q.newT = func() Transport { return md }
	}
	return q
}

// mx sets up direct delivery: one MX transport shared by the workers, the
// MTA-STS policy cache in the data folder, the per-domain limits.
func (q *Queue) mx(o options) func() Transport {
	cfg := q.cfg
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.MXPort == "" {
		cfg.MXPort = "25"
	}
	if cfg.DomainConcurrency <= 0 {
		cfg.DomainConcurrency = 4
	}
	q.dests = newDestinations(cfg.DomainConcurrency)
	log := q.log.With("delivery", "mx")
	m := &MX{cfg: cfg, log: log, dns: cfg.Resolver, roots: o.roots, port: cfg.MXPort,
		sts: newSTSPolicies(filepath.Join(q.store.Dir(), "mta-sts"), cfg.Resolver, o.roots, o.policyPort, q.now, log)}
	return func() Transport { return m }
}

// Add schedules committed rows for immediate delivery.
func (q *Queue) Add(ids ...uint64) {
	now := q.now()
	q.mu.Lock()
	for _, id := range ids {
		if !q.scheduled[id] {
			q.scheduled[id] = true
			heap.Push(&q.due, dueItem{at: now, id: id})
		}
	}
	q.mu.Unlock()
	q.poke()
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start loads undelivered rows left by a previous run and starts the workers.
func (q *Queue) Start(ctx context.Context) error {
	sent, delivered, err := openSentLog(filepath.Join(q.store.Dir(), "delivered.log"))
	if err != nil {
		return err
	}
	q.sent = sent
	if err := q.recordLogged(delivered); err != nil {
		return err
	}
	rows, err := q.pending()
	if err != nil {
		return err
	}
	q.mu.Lock()
	for _, o := range rows {
		if !q.scheduled[o.ID] {
			q.scheduled[o.ID] = true
			heap.Push(&q.due, dueItem{at: o.Next, id: o.ID})
		}
	}
	q.mu.Unlock()
	for i := 0; i < q.cfg.Concurrency; i++ {
		q.wg.Add(1)
		go q.worker(ctx)
	}
	q.wg.Add(1)
	go q.dispatch(ctx)
	return nil
}

func (q *Queue) pending() ([]casestore.Outbound, error) {
	var rows []casestore.Outbound
	err := q.store.View(func(tx *casestore.Tx) (err error) {
		rows, err = tx.QueuedOutbound()
		return err
	})
	return rows, err
}

// Wait blocks until the workers stopped (after ctx is done).
func (q *Queue) Wait() {
	q.wg.Wait()
	if q.sent != nil {
		q.sent.close()
	}
}

// recordLogged records as delivered the rows the delivery log names and the
// store still has queued: their next hop took them just before a crash.
func (q *Queue) recordLogged(ids []uint64) error {
	n := 0
	for _, id := range ids {
		var o *casestore.Outbound
		if err := q.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(id); return err }); err != nil || o.State != casestore.OutQueued {
			continue
		}
		q.record(o, nil)
		n++
	}
	if n > 0 {
		q.log.Info("deliveries recorded from the delivery log, not sent again", "rows", n)
	}
	q.sent.clear()
	return nil
}

// Len is the number of rows scheduled or in flight.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.scheduled)
}

func (q *Queue) dispatch(ctx context.Context) {
	defer q.wg.Done()
	defer close(q.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		var next dueItem
		have := q.due.Len() > 0
		if have {
			next = q.due[0]
		}
		q.mu.Unlock()
		wait := time.Hour
		if have {
			wait = next.at.Sub(q.now())
			if wait <= 0 {
				q.mu.Lock()
				heap.Pop(&q.due)
				q.mu.Unlock()
				select {
				case q.work <- next.id:
				case <-ctx.Done():
					return
				}
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

func (q *Queue) worker(ctx context.Context) {
	defer q.wg.Done()
	t := q.newT()
	defer t.Close()
	for id := range q.work {
		q.deliver(ctx, t, id)
	}
}

func (q *Queue) deliver(ctx context.Context, t Transport, id uint64) {
	var o *casestore.Outbound
	err := q.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(id); return err })
	if err != nil || o.State != casestore.OutQueued {
		q.forget(id)
		return
	}
	if q.dests == nil {
		q.attempt(ctx, t, o)
		return
	}
	domain := recipientDomain(o.To)
	if ok, at := q.dests.acquire(domain, id, q.now()); !ok {
		if !at.IsZero() {
			q.schedule(id, at) // the domain is backing off: no attempt counted
		}
		return // else waiting for one of the domain's sessions to end
	}
	derr := q.attempt(ctx, t, o)
	var dest *destError
	for _, w := range q.dests.release(domain, errors.As(derr, &dest), q.now(), q.backoff) {
		q.schedule(w, q.now())
	}
}

// attempt delivers o once and records the outcome; it returns the delivery error.
func (q *Queue) attempt(ctx context.Context, t Transport, o *casestore.Outbound) error {
	id := o.ID
	// Streamed from the store: a queue of large relays does not sit in memory.
	// Signing reads the message once for the signature, delivery once more.
	var sig string
	var err2 error
	if q.cfg.DKIM != nil {
		if r, _, err := q.store.OpenRaw(o.SHA256); err == nil {
			sig, err2 = q.cfg.DKIM.Signature(r)
			r.Close()
		}
	}
	raw, _, err := q.store.OpenRaw(o.SHA256)
	var body *gatedBody
	if err == nil && err2 != nil {
		raw.Close()
		err = fmt.Errorf("DKIM signature: %w", err2)
	} else if err == nil {
		dctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
		body = q.doubt.body(dctx, io.MultiReader(strings.NewReader(sig), raw))
		err = t.Deliver(dctx, o, body)
		cancel()
		raw.Close()
	}
	if ctx.Err() != nil && err != nil {
		// Shutting down: the row stays queued and is retried at the next start.
		body.release()
		q.forget(id)
		return nil
	}
	if err == nil {
		if lerr := q.sent.mark(o.ID); lerr != nil {
			q.log.Warn("delivery log", "outbound", o.ID, "err", lerr)
		}
	}
	body.release() // the id is in the log: no longer in doubt after a kill
	q.record(o, err)
	return err
}

// record commits the outcome of one attempt and reschedules if needed.
func (q *Queue) record(o *casestore.Outbound, derr error) {
	now := q.now()
	o.Attempts++
	var perm *PermanentError
	switch {
	case derr == nil:
		o.State, o.Done, o.LastError = casestore.OutSent, now, ""
	case errors.As(derr, &perm):
		o.State, o.Done, o.LastError = casestore.OutFailed, now, derr.Error()
	case now.Sub(o.Created) >= q.cfg.GiveUp:
		o.State, o.Done = casestore.OutFailed, now
		o.LastError = fmt.Sprintf("gave up after %d attempts over %s: %v", o.Attempts, q.cfg.GiveUp, derr)
	default:
		o.LastError = derr.Error()
		o.Next = now.Add(q.backoff(o.Attempts))
	}
	err := q.store.Update(func(tx *casestore.Tx) error {
		if err := tx.PutOutbound(o); err != nil {
			return err
		}
		if o.CaseID == "" || o.State == casestore.OutQueued {
			return nil
		}
		c, err := tx.Case(o.CaseID)
		if err != nil {
			return nil // case data deleted meanwhile: the row is enough
		}
		kind := casestore.EvDelivered
		if o.State == casestore.OutFailed {
			kind = casestore.EvDeliveryFail
		}
		text := o.LastError
		if o.State == casestore.OutSent && o.Via != "" {
			text = "via " + o.Via // which MX host, TLS or not, its reply
		}
		if err := tx.AppendEvent(c, casestore.Event{Kind: kind, Role: o.Role, Out: o.ID, Text: text}); err != nil {
			return err
		}
		return tx.PutCase(c)
	})
	if err != nil {
		q.log.Error("record delivery", "outbound", o.ID, "err", err)
		o.Next = now.Add(q.cfg.MinBackoff) // retry from the stored state later
	} else if derr == nil && q.sent != nil {
		q.sent.recorded(o.ID)
	}
	if err == nil {
		q.count(o, now)
	}
	switch {
	case err == nil && o.State != casestore.OutQueued:
		if derr != nil {
			q.log.Warn("delivery failed", "outbound", o.ID, "case", o.CaseID, "to", o.To, "err", o.LastError)
		} else {
			q.log.Info("delivered", "outbound", o.ID, "case", o.CaseID, "to", o.To, "kind", o.Kind, "attempt", o.Attempts, "via", o.Via)
		}
		q.forget(o.ID)
	default:
		if derr != nil {
			q.log.Info("delivery deferred", "outbound", o.ID, "attempt", o.Attempts, "next", o.Next, "err", derr)
		}
		q.schedule(o.ID, o.Next)
	}
}

// schedule puts a row that is already scheduled back on the heap for at.
func (q *Queue) schedule(id uint64, at time.Time) {
	q.mu.Lock()
	heap.Push(&q.due, dueItem{at: at, id: id})
	q.mu.Unlock()
	q.poke()
}

// count tells the metrics how an attempt ended; a relay is timed from the
// 250 that accepted its message.
func (q *Queue) count(o *casestore.Outbound, now time.Time) {
	switch {
	case o.State == casestore.OutSent && !o.InboundAt.IsZero():
		q.cfg.Metrics.Delivered(now.Sub(o.InboundAt))
	case o.State == casestore.OutSent:
		q.cfg.Metrics.Delivered(0)
	case o.State == casestore.OutFailed:
		q.cfg.Metrics.Failed()
	default:
		q.cfg.Metrics.Deferred()
	}
}

func (q *Queue) forget(id uint64) {
	q.mu.Lock()
	delete(q.scheduled, id)
	q.mu.Unlock()
}

// backoff is min*2^(attempts-1), capped at max, with ±25% jitter so that a
// smarthost coming back is not hit by every deferred message at once.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.cfg.MinBackoff
	for i := 1; i < attempts && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	if d > q.cfg.MaxBackoff {
		d = q.cfg.MaxBackoff
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}

type dueItem struct {
	at time.Time
	id uint64
}

type dueHeap []dueItem

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].id < h[j].id
	}
	return h[i].at.Before(h[j].at)
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
