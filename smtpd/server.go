// Package smtpd owns Parley's inbound SMTP (RFC 5321, with go-smtp): which
// recipients are accepted (intake, trader handles, HMAC-verified case and
// bounce addresses, postmaster as RFC 5321 section 4.5.1 requires), the limits,
// the strict DATA reader that refuses bare CR/LF, and the 250 rule: a message
// is acknowledged only once its raw bytes are durable (inline in the bbolt
// commit, or fsynced in the blob folder first) and its rows and follow-up job
// are committed. Any internal failure answers 451 4.3.0.
package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"parley/casestore"
	"parley/metrics"
	"parley/peer"
	"parley/threading"
)

// Config is what the listener needs from the configuration.
type Config struct {
	Domain         string
	Hostname       string
	MaxMessageSize int64
	MaxRecipients  int
	MaxLineLength  int
	MaxHeaderSize  int
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	DataTimeout    time.Duration
	MaxConnections int
	// LMTP serves RFC 2033 LMTP instead of SMTP, for delivery from a local MTA.
	LMTP bool
	// MaxPerIP bounds one client's concurrent connections (per IPv4
	// address or IPv6 /64), so one host cannot take every slot; zero means
	// MaxConnections/10, at least 10.
	MaxPerIP int
	// MaxSession is a session's whole lifetime, however busy it keeps; zero
	// is none.
	MaxSession time.Duration
	// MaxIdleCommands bounds the commands a client may send without
	// delivering a message (NOOP, RSET, VRFY, refused MAIL...), on top of
	// one transaction's worth (MaxRecipients RCPTs and a few more); zero is
	// none.
	MaxIdleCommands int
	// Now is the clock of session lifetimes; nil is time.Now.
	Now func() time.Time
	// MinFreeSpace is the room the data folder must have for a transaction
	// to start (452 4.3.1 below it); zero is no check.
	MinFreeSpace int64
	// FreeSpace reports the data folder's free bytes; nil: statfs of the
	// store's folder.
	FreeSpace func() (int64, error)

	// Submission switches the listener to submission mode (submission.go):
	// AUTH required, mail only to case addresses.
	Submission bool
	// Authenticate checks mediator credentials in submission mode.
	Authenticate Authenticator
	// TLSConfig offers STARTTLS (RFC 3207) on SMTP and submission, not LMTP;
	// nil means none.
	TLSConfig *tls.Config
	// Metrics counts sessions and messages; nil counts nothing.
	Metrics *metrics.SMTP
}

// Submitter receives the jobs committed with each accepted message.
type Submitter interface {
	Submit(jobs ...casestore.Job)
}

// Server is the inbound SMTP listener.
type Server struct {
	cfg    Config
	store  *casestore.Store
	keys   *threading.Keys
	jobs   Submitter
	log    *slog.Logger
	srv    *smtp.Server
	connID atomic.Uint64
	// chunks are the read buffers of DATA, reused: one per message was a
	// tenth of the daemon's allocations under ingest.
	chunks sync.Pool
}

var _ smtp.Backend = (*Server)(nil)

// New builds the server; Serve starts it.
func New(cfg Config, store *casestore.Store, keys *threading.Keys, jobs Submitter, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, store: store, keys: keys, jobs: jobs, log: log}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.ErrorLog = slogLogger{log}
	// In LMTP each recipient gets its own reply; one commit covers them all,
	// so go-smtp gives every recipient the status Data returns.
	srv.LMTP = cfg.LMTP
	if !cfg.LMTP {
		srv.TLSConfig = cfg.TLSConfig
	}
	s.srv = srv
	if cfg.Submission {
		s.setupSubmission()
	}
	return s
}

func (s *Server) freeSpace() (int64, error) {
	if s.cfg.FreeSpace != nil {
		return s.cfg.FreeSpace()
	}
	return casestore.FreeSpace(s.store.Dir())
}

// NewSession starts a session with its own connection id for the logs.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	id := s.connID.Add(1)
	if cc := countedOf(c.Conn()); cc != nil {
		cc.attach(c)
	}
	watchPlaintext(c, s.log)
	_, overTLS := c.TLSConnectionState()
	sess := &session{
		srv: s, conn: c, helo: c.Hostname(), remote: c.Conn().RemoteAddr().String(), overTLS: overTLS,
		log: s.log.With("conn", id, "remote", c.Conn().RemoteAddr().String()),
	}
	if s.cfg.Submission {
		return &submissionSession{session: sess}, nil
	}
	return sess, nil
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	perIP := s.cfg.MaxPerIP
	if perIP <= 0 {
		perIP = max(s.cfg.MaxConnections/10, 10)
	}
	now := s.cfg.Now
	if now == nil {
		now = time.Now
	}
	commands := 0
	if s.cfg.MaxIdleCommands > 0 {
		commands = s.cfg.MaxIdleCommands + s.cfg.MaxRecipients + 5 // EHLO, MAIL, DATA, a RSET and QUIT
	}
	return s.srv.Serve(&limitListener{Listener: l, max: s.cfg.MaxConnections, perIP: perIP, byIP: map[string]int{},
		lifetime: s.cfg.MaxSession, commands: commands, now: now, log: s.log, metrics: s.cfg.Metrics})
}

// Shutdown stops accepting and waits for sessions to end (or ctx).
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// limitListener refuses connections over the limit with 421 instead of
// queueing them in the kernel until they time out.
type limitListener struct {
	net.Listener
	max, perIP int
	lifetime   time.Duration // of a session; 0: none
	commands   int           // between accepted messages; 0: no limit
	now        func() time.Time
	log        *slog.Logger
	metrics    *metrics.SMTP

	mu      sync.Mutex
	active  int
	byIP    map[string]int
	refused int // since the last log line, so a flood does not flood the log
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peer.Key(c.RemoteAddr())
		l.mu.Lock()
		over := l.active >= l.max || l.byIP[ip] >= l.perIP
		if !over {
			l.active++
			l.byIP[ip]++
		} else {
			l.refused++
		}
		refused := l.refused
		l.mu.Unlock()
		if over {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "421 4.7.0 Too many connections, try again later\r\n")
			c.Close()
			l.metrics.Refused()
			if refused == 1 || refused%100 == 0 {
				l.log.Warn("connections refused: limit reached", "remote", ip, "max", l.max, "per_ip", l.perIP, "refused", refused)
			}
			continue
		}
		cc := &countedConn{Conn: c, l: l, ip: ip, commandLimit: int64(l.commands)}
		if l.lifetime > 0 {
			cc.end = l.now().Add(l.lifetime)
		}
		return cc, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	l.active--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	if l.active == 0 {
		l.refused = 0
	}
	l.mu.Unlock()
}

// countedConn also watches the byte stream for a CR not followed by LF or an
// LF not preceded by CR. go-smtp's DATA reader swallows the CR of "\r\n.\r"
// while unstuffing dots, so the strict reader above it cannot see every bare
// CR; the session asks the watcher at the end of DATA. Under STARTTLS the
// socket carries ciphertext, so a second watcher reads the plaintext
// (tlswatch.go).
//
// It also ends sessions that last too long or only talk: go-smtp sets a read
// deadline before reading each command line (and nowhere else but DATA), so
// SetReadDeadline counts commands and sees the clock.
type countedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
	// end is when the session must be over (zero: never); commandLimit is
	// how many commands may come between accepted messages (0: any).
	end          time.Time
	commandLimit int64
	commands     atomic.Int64

	raw bareWatch // the bytes off the socket: plaintext until STARTTLS
	// plain watches the plaintext under STARTTLS (tlswatch.go); nil before.
	plain atomic.Pointer[bareWatch]

	mu   sync.Mutex
	smtp *smtp.Conn // for replies, through TLS once it is on
}

// countedOf finds the countedConn under c, also beneath STARTTLS.
func countedOf(c net.Conn) *countedConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	cc, _ := c.(*countedConn)
	return cc
}

func (c *countedConn) attach(s *smtp.Conn) {
	c.mu.Lock()
	c.smtp = s
	c.mu.Unlock()
}

// messageAccepted starts the count of commands afresh.
func (c *countedConn) messageAccepted() { c.commands.Store(0) }

// errSessionOver ends go-smtp's command loop without a reply of its own
// (it treats a closed connection as a normal end): ours went out first.
var errSessionOver = fmt.Errorf("smtp session ended by a limit: %w", net.ErrClosed)

func (c *countedConn) SetReadDeadline(t time.Time) error {
	n := c.commands.Add(1)
	if c.commandLimit > 0 && n > c.commandLimit {
		return c.end421("4.7.0", "Too many commands without a message, closing connection", "commands", n-1)
	}
	if !c.end.IsZero() {
		now := c.l.now()
		if !now.Before(c.end) {
			return c.end421("4.4.2", "Session too long, closing connection", "limit", c.l.lifetime.String())
		}
		if left := c.end.Sub(now); t.IsZero() || time.Until(t) > left {
			t = time.Now().Add(left) // a client trickling a line still stops at the end
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// end421 answers 421 (RFC 5321 section 3.8) and ends the session. The reply
// goes through TLS when the session is under STARTTLS (a client learns of
// STARTTLS from EHLO, which attaches the session first).
func (c *countedConn) end421(code, text string, args ...any) error {
	c.mu.Lock()
	s := c.smtp
	c.mu.Unlock()
	var w net.Conn = c
	if s != nil {
		w = s.Conn()
	}
	w.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(w, "421 %s %s\r\n", code, text)
	c.l.log.Info("session ended: "+strings.ToLower(strings.TrimSuffix(text, ", closing connection")), append([]any{"remote", c.RemoteAddr().String()}, args...)...)
	return errSessionOver
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.raw.see(p[:n])
	return n, err
}

// watch is the watcher of the plaintext stream: the socket's until
// STARTTLS, the one beneath go-smtp's reader after it; nil when STARTTLS
// is on but its watcher could not be placed.
func (c *countedConn) watch(tlsOn bool) *bareWatch {
	if tlsOn {
		return c.plain.Load()
	}
	return &c.raw
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

// slogLogger takes go-smtp's error log. A client hanging up or timing out is
// routine on the internet (health checks, scanners), so it is logged at info;
// everything else (panics included) stays an error.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.print(fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.print(fmt.Sprint(v...)) }

func (l slogLogger) print(msg string) {
	if peer.Routine(msg) {
		l.log.Info(strings.TrimSpace(msg))
		return
	}
	l.log.Error(strings.TrimSpace(msg))
}

// chunk is a DATA read buffer from the pool.
func (s *Server) chunk() []byte {
	if p, ok := s.chunks.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}
