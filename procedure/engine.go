// Package procedure owns what happens to a message after Parley accepted it:
// which case and party it belongs to, opening a case from a complaint, who
// receives what, sender binding and quarantine, auto-reply suppression (RFC
// 3834), and the case's event log. It runs as a background worker on the jobs
// that smtpd commits with each message; a job's results and its deletion are
// committed in one transaction, so replaying a job after a crash has the effect
// of running it once.
package procedure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/evidence"
	"parley/intent"
	"parley/locales"
	"parley/mailauth"
	"parley/metrics"
	"parley/route"
	"parley/templates"
	"parley/threading"
	"parley/translate"
)

// Config is what the engine needs from the configuration.
type Config struct {
	Domain    string
	Hostname  string
	Procedure config.Procedure
	Evidence  config.Evidence
	Auth      config.Auth
	// Resolver is the DNS for sender authentication; nil means the system's.
	Resolver mailauth.Resolver
	// Translator translates between parties of different languages; nil is off.
	Translator       translate.Engine
	TranslateTimeout time.Duration
	// Metrics counts failing jobs and timers; nil counts nothing.
	Metrics *metrics.Procedure
}

// Engine processes ingest jobs.
type Engine struct {
	store    *casestore.Store
	keys     *threading.Keys
	tmpl     *templates.Set
	loc      *locales.Bundle
	parser   *evidence.Parser
	reader   *reader
	intents  *intent.Reader
	domain   string
	hostname string
	cfg      Config
	now      func() time.Time
	log      *slog.Logger
	// queued is told about outbound rows after their commit.
	queued        func(ids ...uint64)
	timersChanged chan struct{}
	// large admits one large message at a time into parsing and rendering,
	// which is what bounds the daemon's memory under big attachments.
	large chan struct{}
	auth  *mailauth.Checker // nil: sender authentication is off
	// timerRetry is how failed timers are retried and when they are parked.
	timerRetry retryPolicy
	// held are the timers waiting for their case's queued mail.
	held holds
	// translator is the machine translation engine (nil: off).
	translator       translate.Engine
	translateTimeout time.Duration
	// blobs are large outbound messages stored for the transaction that
	// queues them (largemail.go).
	blobs blobsReady
	// beforeJob, when set (tests only), runs before each job is prepared;
	// an error fails the job.
	beforeJob func(casestore.Job) error
	// beforeFire, when set (tests only), runs before each timer's action;
	// an error fails the timer.
	beforeFire func(casestore.DueTimer) error
}

// NewEngine wires an engine. queued receives the ids of committed outbound rows.
func NewEngine(store *casestore.Store, keys *threading.Keys, tmpl *templates.Set, loc *locales.Bundle, cfg Config, log *slog.Logger, queued func(ids ...uint64)) *Engine {
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Domain
	}
	if cfg.Evidence == (config.Evidence{}) {
		cfg.Evidence = config.Default().Evidence
	}
	e := &Engine{
		store: store, keys: keys, tmpl: tmpl, loc: loc, parser: evidence.NewParser(), reader: newReader(loc), intents: intent.NewReader(intent.WordsFrom(loc)),
		domain: cfg.Domain, hostname: cfg.Hostname, cfg: cfg, now: store.Now, log: log, queued: queued,
		timersChanged: make(chan struct{}, 1), large: make(chan struct{}, 1),
		timerRetry: retryPolicy{attempts: 8, first: time.Minute, most: time.Hour},
		translator: cfg.Translator, translateTimeout: cfg.TranslateTimeout,
	}
	if e.translateTimeout <= 0 {
		e.translateTimeout = 10 * time.Second
	}
	if cfg.Auth.DMARC == "enforce" || cfg.Auth.DMARC == "record" {
		e.auth = mailauth.New(cfg.Resolver)
	}
	return e
}

// errPermanent marks a job that cannot succeed by retrying.
type errPermanent struct{ error }

// Process runs one ingest job to completion: results and the job's deletion
// are one transaction.
func (e *Engine) Process(ctx context.Context, job casestore.Job) error {
	st, err := e.prepare(ctx, job, nil)
	if err != nil || st == nil {
		return err
	}
	defer releaseAll([]*step{st})
	return e.commit([]*step{st})
}

// step is a prepared job: the parsing and rendering done outside the
// transaction, and the work to do inside it.
type step struct {
	in   *inbound
	work func(tx *casestore.Tx) ([]uint64, error)
	// barrier marks a step whose commit changes what later steps of the same
	// case were prepared against (an intake completed), so a batch ends there.
	barrier bool
	// release frees the large-message slot once the step is committed.
	release func()
}

// errStale means a step was prepared against a case state that changed
// before its commit; preparing it again fixes it.
var errStale = errors.New("case changed since the message was prepared")

// prepare does everything for job that needs no transaction. It returns nil
// when the job is already done.
func (e *Engine) prepare(ctx context.Context, job casestore.Job, a *ahead) (*step, error) {
	if e.beforeJob != nil {
		if err := e.beforeJob(job); err != nil {
			return nil, err
		}
	}
	if a != nil {
		// Read ahead of the batch, after the batches before it were
		// committed: the job and its message are as they were then.
		return e.prepareMessage(ctx, job, a)
	}
	msg, err := e.jobMessage(job)
	if err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, nil // already done
	}
	var release func()
	if msg.Size >= int64(e.cfg.Evidence.LargeMessage) {
		select {
		case e.large <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		release = func() { <-e.large }
	}
	a, err = e.readMessage(ctx, msg)
	var st *step
	if err == nil {
		st, err = e.prepareMessage(ctx, job, a)
	}
	if st == nil || err != nil {
		if release != nil {
			release()
		}
		return st, err
	}
	st.release = release
	st.barrier = st.barrier || release != nil // a large message is committed alone
	return st, nil
}

func (e *Engine) prepareMessage(ctx context.Context, job casestore.Job, a *ahead) (*step, error) {
	msg, pm := a.msg, a.pm
	in := &inbound{job: job, msg: msg, parsed: pm, raw: a.raw, text: a.text, auto: evidence.AutoReply(pm, msg.MailFrom), forwarded: map[string]bool{}}
	// Mail that speaks for a party is checked against its From domain's DMARC
	// policy; complaints can come from anyone and are not.
	if a.auth != nil {
		msg.Auth = a.auth.String()
		in.unauthenticated = a.auth.Enforce() && e.cfg.Auth.DMARC == "enforce"
	}
	// Attachments become evidence: each stored once by SHA-256 and fsynced
	// before the transaction that records it.
	for _, a := range pm.Attachments {
		if !e.store.Blobs.Has(a.SHA256) {
			if _, _, err := e.store.Blobs.Put(bytes.NewReader(a.Data)); err != nil {
				return nil, fmt.Errorf("store evidence %s of message %d: %w", a.Name, msg.ID, err)
			}
		}
	}
	if pm.Malformed() {
		msg.Flags = appendFlag(msg.Flags, casestore.FlagMalformed)
		msg.Note = strings.Join(pm.Problems, "; ")
	}
	msg.From, msg.Subject = pm.FromAddr, threading.SanitizeHeader(pm.Subject)
	if msg.From == "" && evidence.ValidAddress(msg.MailFrom) {
		msg.From = msg.MailFrom
	}
	var err error
	switch msg.Target.Kind {
	case route.KindIntake:
		err = e.intake(ctx, in)
	case route.KindParty:
		err = e.caseMail(ctx, in, msg.Target.Case, msg.Target.Role)
	case route.KindChoice:
		err = e.choiceMail(in)
	case route.KindBounce:
		err = e.bounce(in)
	default:
		err = e.finish(in, nil)
	}
	var perm errPermanent
	if errors.As(err, &perm) {
		e.log.Warn("message kept but not handled", "msg", msg.ID, "err", err)
		in.msg.Note = strings.TrimPrefix(in.msg.Note+"; "+err.Error(), "; ")
		err = e.finish(in, nil)
	}
	if err != nil {
		return nil, err
	}
	return in.step, nil
}

type inbound struct {
	job       casestore.Job
	msg       *casestore.Message
	parsed    *evidence.Message
	raw       []byte
	text      string // the parsed text without quoted history
	auto      string
	step      *step
	forwarded map[string]bool // attachment SHA-256 -> passed on in a relay
	// unauthenticated: the From domain's DMARC policy says this is not from it.
	unauthenticated bool
}

// finish records the work to commit for in: its effects, the message row and
// the job's deletion go into one transaction in commit.
func (e *Engine) finish(in *inbound, work func(tx *casestore.Tx) ([]uint64, error)) error {
	in.step = &step{in: in, work: work}
	return nil
}

// recordEvidence adds an evidence row per attachment of a message that
// belongs to a case.
func (e *Engine) recordEvidence(tx *casestore.Tx, in *inbound) error {
	if in.msg.CaseID == "" || in.parsed == nil || len(in.parsed.Attachments) == 0 {
		return nil
	}
	c, err := tx.Case(in.msg.CaseID)
	if err != nil {
		return err
	}
	role := in.msg.Role
	if in.msg.HasFlag(casestore.FlagQuarantined) {
		role = ""
	}
	for _, a := range in.parsed.Attachments {
		ev := &casestore.Evidence{Message: in.msg.ID, Role: role, Name: a.Name, Declared: a.Declared, Sniffed: a.Sniffed,
			Size: a.Size, SHA256: a.SHA256, Inline: a.Inline, Forwarded: in.forwarded[a.SHA256]}
		if err := tx.AddEvidence(c, ev); err != nil {
			return err
		}
	}
	return tx.PutCase(c)
}

// releaseAll frees the large-message slots of steps.
func releaseAll(steps []*step) {
	for _, st := range steps {
		if st != nil && st.release != nil {
			st.release()
			st.release = nil
		}
	}
}

// commit applies prepared steps in order in one transaction (one fsync for
// the lot), then hands new outbound rows to the queue.
func (e *Engine) commit(steps []*step) error {
	var out []uint64
	err := e.update(func(tx *casestore.Tx) error {
		out = out[:0]
		for _, st := range steps {
			in := st.in
			if !tx.JobExists(in.job.ID) {
				continue
			}
			if st.work != nil {
				ids, err := st.work(tx)
				if err != nil {
					return fmt.Errorf("message %d: %w", in.msg.ID, err)
				}
				out = append(out, ids...)
			}
			if err := e.recordEvidence(tx, in); err != nil {
				return err
			}
			in.msg.Processed = true
			if err := tx.PutMessage(in.msg); err != nil {
				return err
			}
			if err := tx.DeleteJob(in.job.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, st := range steps {
		m := st.in.msg
		e.log.Info("message handled", "msg", m.ID, "case", m.CaseID, "role", m.Role, "target", m.Target, "flags", strings.Join(m.Flags, ","))
	}
	if len(out) > 0 && e.queued != nil {
		e.queued(out...)
	}
	e.pokeTimers()
	return nil
}

func appendFlag(flags []string, f string) []string {
	for _, x := range flags {
		if x == f {
			return flags
		}
	}
	return append(flags, f)
}

// partyLang picks the language of someone writing to Parley: Content-Language,
// then the text, then fallback.
// A language Parley recognises but does not speak gets English.
func (e *Engine) partyLang(pm *evidence.Message, fallback string) string {
	return e.partyLangDetected(pm, fallback, func() string { return e.loc.Detect(pm.Text) })
}

// partyLangDetected is partyLang with the text's language from detected,
// called only if Content-Language does not settle it: intake detects once
// for this and for the line it adds for a language Parley does not speak
// (detection reads up to 2,000 characters of n-grams: milliseconds).
func (e *Engine) partyLangDetected(pm *evidence.Message, fallback string, detected func() string) string {
	for _, tag := range strings.Split(pm.ContentLanguage, ",") {
		if l := e.loc.Match(tag); l != "" {
			return l
		}
	}
	if l := detected(); l != "" {
		if _, unsupported := locales.Unsupported[l]; unsupported {
			return "en"
		}
		return l
	}
	if fallback != "" {
		return fallback
	}
	return e.loc.Default()
}
