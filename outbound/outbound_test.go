package outbound

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"parley/casestore"
)

// sink is a real SMTP server on loopback acting as the smarthost.
type sink struct {
	mu       sync.Mutex
	msgs     []string
	rcpts    []string
	conns    atomic.Int32 // connections accepted
	silent   atomic.Int32 // accept this many connections and never answer
	held     []net.Conn
	served   []net.Conn   // every connection answered, for dropAll
	failures atomic.Int32 // answer this many DATA with reply below
	reply    *smtp.SMTPError
	// refuseMail answers this many MAIL commands with reply.
	refuseMail atomic.Int32
	// hold keeps each DATA this long, so that deliveries overlap; active and
	// maxActive count the DATA transfers at once.
	hold      time.Duration
	active    atomic.Int32
	maxActive atomic.Int32
	authed    atomic.Int32
	addr      string
	srv       *smtp.Server
	// afterDot runs when a message's content and final dot are read,
	// before the reply: a next hop committing it.
	afterDot func()
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: s}, nil
}

type sinkSession struct {
	s    *sink
	rcpt string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "parley" || pass != "secret" {
			return errors.New("bad credentials")
		}
		ss.s.authed.Add(1)
		return nil
	}), nil
}
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	if ss.s.refuseMail.Add(-1) >= 0 {
		return ss.s.reply
	}
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpt = to
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.afterDot != nil {
		ss.s.afterDot()
	}
	n := ss.s.active.Add(1)
	for m := ss.s.maxActive.Load(); n > m && !ss.s.maxActive.CompareAndSwap(m, n); m = ss.s.maxActive.Load() {
	}
	time.Sleep(ss.s.hold) // the server taking its time, not the test waiting
	ss.s.active.Add(-1)
	if ss.s.failures.Add(-1) >= 0 {
		return ss.s.reply
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.rcpts = append(ss.s.rcpts, ss.rcpt)
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

func startSink(t *testing.T, withTLS bool) *sink {
	t.Helper()
	var tc *tls.Config
	if withTLS {
		tc = selfSigned(t)
	}
	return startSinkTLS(t, tc)
}

// startSinkTLS starts a sink offering STARTTLS with tc (nil: no STARTTLS).
func startSinkTLS(t *testing.T, tc *tls.Config) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.TLSConfig = tc
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr, s.srv = l.Addr().String(), srv
	go srv.Serve(countingListener{l, s})
	t.Cleanup(s.closeSilent)
	t.Cleanup(func() { srv.Close() })
	return s
}

// countingListener counts the connections it accepts (sessions are more:
// go-smtp starts a new one after STARTTLS) and keeps the sink's first
// silent ones open without a word.
type countingListener struct {
	net.Listener
	s *sink
}

func (l countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		l.s.conns.Add(1)
		if l.s.silent.Add(-1) < 0 {
			l.s.mu.Lock()
			l.s.served = append(l.s.served, c)
			l.s.mu.Unlock()
			return c, nil
		}
		l.s.mu.Lock()
		l.s.held = append(l.s.held, c)
		l.s.mu.Unlock()
	}
}

// dropAll closes every connection the sink answered, without a word: a
// relay's idle timeout.
func (s *sink) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.served {
		c.Close()
	}
	s.served = nil
}

func (s *sink) closeSilent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.held {
		c.Close()
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func selfSigned(t *testing.T) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// clock runs at real speed from an offset that a test can jump forward, so
// the queue's timers work while give-up ages pass in an instant.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type qenv struct {
	store *casestore.Store
	q     *Queue
	clock *clock
	stop  context.CancelFunc
}

func baseConfig(smarthost string) Config {
	return Config{Smarthost: smarthost, TLS: "none", GiveUp: 5 * 24 * time.Hour, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, Concurrency: 2, Timeout: 5 * time.Second, Hostname: "parley.test"}
}

func startQueue(t *testing.T, dir string, cfg Config, clk *clock, opts ...Option) *qenv {
	t.Helper()
	if clk == nil {
		clk = &clock{}
	}
	store, err := casestore.Open(dir, casestore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	q := New(store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &qenv{store: store, q: q, clock: clk, stop: cancel}
	t.Cleanup(e.close)
	return e
}

func (e *qenv) close() {
	if e.stop == nil {
		return
	}
	e.stop()
	e.q.Wait()
	e.store.Close()
	e.stop = nil
}

// add commits n outbound rows of case C and hands them to the queue.
func (e *qenv) add(t *testing.T, n int) []uint64 {
	t.Helper()
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("shop%d@acme.example", i)
	}
	return e.addTo(t, to...)
}

// addTo commits one outbound row of case C per recipient and queues them.
func (e *qenv) addTo(t *testing.T, to ...string) []uint64 {
	t.Helper()
	n := len(to)
	var ids []uint64
	err := e.store.Update(func(tx *casestore.Tx) error {
		ids = ids[:0]
		c := &casestore.Case{ID: "ABC-DEFG", State: casestore.StateOpen}
		if old, err := tx.Case(c.ID); err == nil {
			c = old
		}
		for i := 0; i < n; i++ {
			o := &casestore.Outbound{CaseID: c.ID, Role: "trader", Kind: "relay", To: to[i],
				MailFrom: "b.1.x@d.test", Created: e.clock.Now(), Next: e.clock.Now()}
			raw := fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@d.test>\r\n\r\nbody %d\r\n", i, i, i)
			if err := tx.AddOutbound(o, []byte(raw)); err != nil {
				return err
			}
			ids = append(ids, o.ID)
		}
		return tx.PutCase(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.q.Add(ids...)
	return ids
}

func (e *qenv) row(t *testing.T, id uint64) casestore.Outbound {
	var o *casestore.Outbound
	if err := e.store.View(func(tx *casestore.Tx) (err error) { o, err = tx.Outbound(id); return err }); err != nil {
		t.Fatal(err)
	}
	return *o
}

// waitState polls the committed row (the queue's own progress), bounded.
func (e *qenv) waitState(t *testing.T, id uint64, state string) casestore.Outbound {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if o := e.row(t, id); o.State == state {
			return o
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("outbound %d never reached %s: %+v", id, state, e.row(t, id))
	return casestore.Outbound{}
}

func TestSmarthostAuthAndConnectionReuse(t *testing.T) {
	s := startSink(t, false)
	cfg := baseConfig(s.addr)
	cfg.Concurrency, cfg.Username, cfg.Password = 1, "parley", "secret"
	e := startQueue(t, t.TempDir(), cfg, nil)
	ids := e.add(t, 10)
	for _, id := range ids {
		e.waitState(t, id, casestore.OutSent)
	}
	if s.count() != 10 {
		t.Fatalf("sink got %d", s.count())
	}
	if c := s.conns.Load(); c != 1 {
		t.Errorf("%d connections for 10 messages with one worker; want 1 (reuse)", c)
	}
	if s.authed.Load() != 1 {
		t.Errorf("AUTH PLAIN ran %d times", s.authed.Load())
	}
	var evs []casestore.Event
	e.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events("ABC-DEFG"); return err })
	if len(evs) != 10 || evs[0].Kind != casestore.EvDelivered {
		t.Errorf("case events: %d", len(evs))
	}
}

// A relay that closed the kept connection while it was idle costs a new
// connection, not an attempt deferred by a backoff.
func TestSmarthostClosedKeptConnection(t *testing.T) {
	s := startSink(t, false)
	cfg := baseConfig(s.addr)
	cfg.Concurrency = 1
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour // a deferral would show as a row still queued
	e := startQueue(t, t.TempDir(), cfg, nil)
	e.waitState(t, e.add(t, 1)[0], casestore.OutSent)
	s.dropAll()
	o := e.waitState(t, e.add(t, 1)[0], casestore.OutSent)
	if o.Attempts != 1 || o.LastError != "" {
		t.Errorf("second message: %d attempts, last error %q; want sent at the first attempt", o.Attempts, o.LastError)
	}
	if c := s.conns.Load(); c != 2 || s.count() != 2 {
		t.Errorf("%d connections, %d messages; want 2 and 2", c, s.count())
	}
}

// A smarthost refusing the password (go-smtp answers 454; a 535 is handled
// the same) keeps the mail queued: the operator fixes the password, the
// message is not failed.
func TestSmarthostWrongPasswordKeepsMailQueued(t *testing.T) {
	s := startSink(t, false)
	cfg := baseConfig(s.addr)
	cfg.Username, cfg.Password = "parley", "wrong"
	e := startQueue(t, t.TempDir(), cfg, nil)
	id := e.add(t, 1)[0]
	deadline := time.Now().Add(10 * time.Second)
	for e.row(t, id).Attempts < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if o := e.row(t, id); o.State != casestore.OutQueued || !strings.Contains(o.LastError, "AUTH") {
		t.Fatalf("after a refused password: %+v, want queued with the AUTH error", o)
	}
}

// Opportunistic TLS towards a smarthost that offers no STARTTLS goes on in
// clear text on the same connection.
func TestOpportunisticWithoutSTARTTLSOneConnection(t *testing.T) {
	s := startSink(t, false)
	cfg := baseConfig(s.addr)
	cfg.TLS, cfg.Concurrency = "opportunistic", 1
	e := startQueue(t, t.TempDir(), cfg, nil)
	e.waitState(t, e.add(t, 1)[0], casestore.OutSent)
	if c := s.conns.Load(); c != 1 {
		t.Errorf("%d connections for one message to a smarthost without STARTTLS; want 1", c)
	}
}

func TestTemporaryFailureRetried(t *testing.T) {
	s := startSink(t, false)
	s.reply = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	s.failures.Store(2)
	e := startQueue(t, t.TempDir(), baseConfig(s.addr), nil)
	id := e.add(t, 1)[0]
	o := e.waitState(t, id, casestore.OutSent)
	if o.Attempts != 3 {
		t.Errorf("attempts %d, want 3 (two deferrals)", o.Attempts)
	}
}

func TestPermanentFailureRecorded(t *testing.T) {
	s := startSink(t, false)
	s.reply = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	s.failures.Store(1)
	e := startQueue(t, t.TempDir(), baseConfig(s.addr), nil)
	id := e.add(t, 1)[0]
	o := e.waitState(t, id, casestore.OutFailed)
	if o.Attempts != 1 || !strings.Contains(o.LastError, "no such user") {
		t.Errorf("row %+v", o)
	}
	var evs []casestore.Event
	e.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events("ABC-DEFG"); return err })
	if len(evs) != 1 || evs[0].Kind != casestore.EvDeliveryFail {
		t.Errorf("case events %+v", evs)
	}
}

func TestGiveUpAge(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close() // nothing listens: connection refused
	clk := &clock{}
	e := startQueue(t, t.TempDir(), baseConfig(dead), clk)
	id := e.add(t, 1)[0]
	deadline := time.Now().Add(10 * time.Second)
	for e.row(t, id).Attempts < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if o := e.row(t, id); o.State != casestore.OutQueued {
		t.Fatalf("failed before the give-up age: %+v", o)
	}
	clk.Add(5*24*time.Hour + time.Minute)
	o := e.waitState(t, id, casestore.OutFailed)
	if !strings.Contains(o.LastError, "gave up") {
		t.Errorf("last error %q", o.LastError)
	}
}

func TestQueueSurvivesRestart(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	e := startQueue(t, dir, baseConfig(addr), nil)
	ids := e.add(t, 5)
	e.close()
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	go srv.Serve(l)
	defer srv.Close()
	e = startQueue(t, dir, baseConfig(addr), nil)
	for _, id := range ids {
		e.waitState(t, id, casestore.OutSent)
	}
	if s.count() != 5 {
		t.Fatalf("sink got %d after restart", s.count())
	}
}

func TestStartTLSModes(t *testing.T) {
	s := startSink(t, true)
	cfg := baseConfig(s.addr)
	cfg.TLS = "opportunistic"
	e := startQueue(t, t.TempDir(), cfg, nil)
	e.waitState(t, e.add(t, 1)[0], casestore.OutSent)

	cfg.TLS = "starttls" // verified: the self-signed certificate must not pass
	e2 := startQueue(t, t.TempDir(), cfg, nil)
	id := e2.add(t, 1)[0]
	deadline := time.Now().Add(10 * time.Second)
	for e2.row(t, id).Attempts < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	o := e2.row(t, id)
	if o.State != casestore.OutQueued || !strings.Contains(o.LastError, "certificate") {
		t.Fatalf("unverified smarthost certificate must defer delivery: %+v", o)
	}
}

func TestMaildirIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	m := &Maildir{Dir: dir}
	o := &casestore.Outbound{ID: 7, To: "a@b.example", MailFrom: "b.7.x@d.test", Created: time.Unix(1000, 0)}
	for i := 0; i < 2; i++ {
		if err := m.Deliver(context.Background(), o, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := os.ReadDir(filepath.Join(dir, "new"))
	if len(files) != 1 {
		t.Fatalf("%d files, want 1", len(files))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "new", files[0].Name()))
	if string(b) != "Return-Path: <b.7.x@d.test>\nDelivered-To: a@b.example\nSubject: x\n\nbody\n" {
		t.Errorf("maildir file %q: want envelope headers and LF line endings", b)
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	q := &Queue{cfg: Config{MinBackoff: time.Minute, MaxBackoff: time.Hour}}
	for attempts, base := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute, 20: time.Hour} {
		for i := 0; i < 50; i++ {
			d := q.backoff(attempts)
			if d < base*3/4 || d > base*5/4 {
				t.Fatalf("backoff(%d) = %v outside %v±25%%", attempts, d, base)
			}
		}
	}
}

func TestDKIMSignedAtDelivery(t *testing.T) {
	s := startSink(t, false)
	dk := testDKIM(t, "d.test")
	cfg := baseConfig(s.addr)
	cfg.DKIM = dk
	e := startQueue(t, t.TempDir(), cfg, nil)
	e.waitState(t, e.add(t, 1)[0], casestore.OutSent)
	s.mu.Lock()
	msg := s.msgs[0]
	s.mu.Unlock()
	if !strings.HasPrefix(msg, "DKIM-Signature: ") {
		t.Fatalf("not signed: %q", msg[:40])
	}
	verifyDKIM(t, msg, publish(t, dk), "ed25519-sha256", "rsa-sha256")
}
