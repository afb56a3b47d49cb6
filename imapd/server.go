package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"parley/casestore"
	"parley/metrics"
	"parley/peer"
	"parley/threading"
)

// Config is what the IMAP server needs from the configuration.
type Config struct {
	// Domain is the mail domain of the case addresses (the Reply-To written
	// into every message).
	Domain string
	// TLS serves STARTTLS and implicit TLS; nil means neither.
	TLS *tls.Config
	// RefreshGap is the least time between two index refreshes: a commit
	// after a quiet spell reaches idling clients at once, a stream of them
	// is taken in batches at most this often (a refresh re-reads a changed
	// case's messages, so a busy case must not be re-read per commit);
	// default 250ms.
	RefreshGap time.Duration
	// PollInterval is how often the \Recent bookkeeping is saved and a
	// refresh is tried without a commit's signal; default 1s (cheap: changes
	// arrive from the store's commits, not from a scan).
	PollInterval time.Duration
	// MaxConnections bounds concurrent connections; default 200.
	MaxConnections int
	// CacheBytes bounds the cache of served messages; default 64 MiB.
	CacheBytes int
	// ClosedFolders is how many closed case folders LIST shows, the most
	// recently closed; older ones are opened by name (listed.go). Default
	// DefaultClosedFolders.
	ClosedFolders int
	// PersonalQuotaBytes and PersonalQuotaMessages bound each mediator's
	// personal folders (Sent, Drafts, Trash); defaults 500 MiB and 10,000.
	PersonalQuotaBytes    int64
	PersonalQuotaMessages int
	// Retention is how long personal messages are kept (by their internal
	// date); zero keeps them. Serve sweeps once an hour.
	Retention time.Duration
	// Now is the clock of the sweep; nil means time.Now.
	Now func() time.Time
	// Metrics counts sessions; nil counts nothing.
	Metrics *metrics.IMAP
}

// DefaultClosedFolders is how many closed case folders LIST shows by default.
const DefaultClosedFolders = 300

// capabilities are the extensions advertised beyond what go-imap adds by
// itself (IDLE, UNSELECT, ENABLE, UTF8=ACCEPT, SASL-IR, LITERAL-, STARTTLS
// and AUTH=PLAIN or LOGINDISABLED as they apply). Each is implemented by
// session; go-imap panics at connect time if one is advertised but not
// implemented. UIDPLUS and MOVE work in personal folders (case folders
// refuse MOVE, and UID EXPUNGE finds nothing to remove there like EXPUNGE);
// SPECIAL-USE marks Sent, Drafts and Trash, and List honours the SPECIAL-USE
// selection option.
//
// CONDSTORE and QRESYNC (RFC 7162) are not advertised: go-imap's imapserver
// (v2.0.0-beta.8) parses none of their syntax (SELECT (CONDSTORE) and
// (QRESYNC ...), FETCH (CHANGEDSINCE) and the MODSEQ item, STORE
// (UNCHANGEDSINCE), SEARCH MODSEQ, STATUS HIGHESTMODSEQ, ENABLE of either)
// and writes none of their responses (HIGHESTMODSEQ, MODIFIED, VANISHED), so
// they would need a fork of its command parser, not a Session method.
func capabilities() imap.CapSet {
	return imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapChildren: {},
		imap.CapUIDPlus: {}, imap.CapMove: {}, imap.CapSpecialUse: {}}
}

var (
	_ net.Listener      = (*chanListener)(nil)
	_ net.Conn          = (*countedConn)(nil)
	_ imapserver.Logger = slogPrintf{}
)

// Server is the mediators' IMAP server.
type Server struct {
	cfg   Config
	store *casestore.Store
	auth  *Authenticator
	log   *slog.Logger
	idx   *index

	// Two go-imap servers share the sessions: connections from loopback may
	// log in without TLS, all others only after STARTTLS or over implicit
	// TLS. Each advertises exactly what its connections may do.
	loopback, strict *imapserver.Server
	loopbackL        *chanListener
	strictL          *chanListener

	ctx      context.Context
	cancel   context.CancelFunc
	start    sync.Once
	pollDone chan struct{}
	connID   atomic.Uint64
	active   atomic.Int64

	serving sync.WaitGroup // the go-imap accept loops
	live    sync.WaitGroup // sessions

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	conns     map[*countedConn]struct{}
}

// New builds the server; Serve and ServeTLS start it.
func New(cfg Config, store *casestore.Store, keys *threading.Keys, auth *Authenticator, log *slog.Logger) *Server {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.RefreshGap <= 0 {
		cfg.RefreshGap = 250 * time.Millisecond
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 200
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.ClosedFolders <= 0 {
		cfg.ClosedFolders = DefaultClosedFolders
	}
	if cfg.PersonalQuotaBytes <= 0 {
		cfg.PersonalQuotaBytes = defaultQuotaBytes
	}
	if cfg.PersonalQuotaMessages <= 0 {
		cfg.PersonalQuotaMessages = defaultQuotaMessages
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, store: store, auth: auth, log: log,
		idx: newIndex(store, keys, cfg.Domain, cfg.CacheBytes, cfg.ClosedFolders, log),
		ctx: ctx, cancel: cancel, pollDone: make(chan struct{}),
		listeners: make(map[net.Listener]struct{}), sessions: make(map[*session]struct{}),
		conns: make(map[*countedConn]struct{}),
	}
	caps := capabilities()
	opts := func(insecure bool) *imapserver.Options {
		return &imapserver.Options{
			NewSession: s.newSession, Caps: caps, TLSConfig: cfg.TLS, InsecureAuth: insecure,
			Logger: slogPrintf{log},
		}
	}
	s.loopback, s.strict = imapserver.New(opts(true)), imapserver.New(opts(false))
	s.loopbackL, s.strictL = newChanListener(), newChanListener()
	return s
}

func (s *Server) startOnce() {
	s.start.Do(func() {
		s.serving.Add(2)
		go func() { defer s.serving.Done(); s.loopback.Serve(s.loopbackL) }()
		go func() { defer s.serving.Done(); s.strict.Serve(s.strictL) }()
		go s.poll()
	})
}

// poll keeps the index in step with the store: it refreshes when a commit
// changed cases (at most once per RefreshGap), saves \Recent every
// PollInterval and sweeps personal folders hourly.
func (s *Server) poll() {
	defer close(s.pollDone)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	now := time.Now
	if s.cfg.Now != nil {
		now = s.cfg.Now
	}
	var swept, refreshed time.Time
	for {
		refreshed = time.Now()
		if err := s.idx.refresh(); err != nil && s.ctx.Err() == nil {
			s.log.Error("mailbox index refresh failed", "err", err)
		}
		if err := s.idx.saveRecent(); err != nil && s.ctx.Err() == nil {
			s.log.Error("mailbox index", "err", err)
		}
		if time.Since(swept) > time.Hour {
			swept = time.Now()
			if n, err := s.idx.sweepPersonal(s.cfg.Retention, now()); err != nil {
				s.log.Error("personal folder retention sweep", "err", err)
			} else if n > 0 {
				s.log.Info("personal folder retention sweep", "messages", n)
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.idx.watch.Changed():
			// Commits in a stream are taken together.
			if wait := s.cfg.RefreshGap - time.Since(refreshed); wait > 0 {
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// Serve accepts plain connections on l (STARTTLS offered when TLS is set).
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts implicit-TLS connections on l.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("imapd: ServeTLS needs a TLS configuration")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	s.startOnce()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("imapd: accept: %w", err)
		}
		delay = 0
		if s.active.Add(1) > int64(s.cfg.MaxConnections) {
			s.active.Add(-1)
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "* BYE Too many connections, try again later\r\n")
			c.Close()
			s.log.Warn("connection refused: limit reached", "remote", c.RemoteAddr().String(), "max", s.cfg.MaxConnections)
			continue
		}
		cc := &countedConn{Conn: c}
		cc.release = func() { s.active.Add(-1); s.untrack(cc) }
		if !s.track(cc) {
			cc.Close()
			return nil
		}
		var conn net.Conn = cc
		switch {
		case implicitTLS:
			s.strictL.push(tls.Server(conn, s.cfg.TLS))
		case peer.IsLoopback(c.RemoteAddr()):
			s.loopbackL.push(conn)
		default:
			s.strictL.push(conn)
		}
	}
}

// Shutdown stops accepting, says BYE to every session and closes them (at
// the latest when ctx ends), then stops the poller.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess.conn.Bye("Parley is shutting down, please reconnect later")
		}()
	}
	byes := make(chan struct{})
	go func() { wg.Wait(); close(byes) }()
	select {
	case <-byes:
	case <-ctx.Done():
	}
	// Close what is left: connections still in the TLS handshake or
	// before their greeting, and sessions that did not take the BYE.
	// (go-imap's own Server.Close races with a Serve that is just starting,
	// so the accept loops are fed and stopped here.)
	s.startOnce()
	s.loopbackL.Close()
	s.strictL.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Conn.Close()
	}
	s.mu.Unlock()
	s.serving.Wait()
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.live.Wait()
		<-s.pollDone
		// The sessions left their folders: write what they saw as recent.
		if err := s.idx.saveRecent(); err != nil {
			s.log.Error("mailbox index", "err", err)
		}
		s.idx.watch.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) track(c *countedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *countedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	nc := conn.NetConn()
	id := s.connID.Add(1)
	sess := &session{
		srv: s, conn: conn, remote: nc.RemoteAddr(),
		log: s.log.With("conn", fmt.Sprintf("i%d", id), "remote", nc.RemoteAddr().String()),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Parley is shutting down"}
	}
	s.sessions[sess] = struct{}{}
	s.live.Add(1)
	s.cfg.Metrics.Session()
	_, isTLS := nc.(*tls.Conn)
	sess.log.Debug("connected", "tls", isTLS)
	return sess, nil, nil
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.live.Done()
}

// chanListener hands accepted connections to a go-imap server.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// countedConn releases its connection slot once, on Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// slogPrintf takes go-imap's error log. A client hanging up or timing out is
// routine, so it is logged at info; everything else (panics included) stays
// an error.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	// Routine disconnects, and client syntax errors that go-imap reports as
	// server errors (bad number sets, bad base64, bad UTF-7 names, oversized
	// literals): the client's fault, not the operator's, so not at error level.
	if peer.Routine(msg, "bad number set", "illegal base64", "utf7:", "imapwire:", "max size exceeded") {
		l.log.Info(msg)
		return
	}
	l.log.Error(msg)
}
