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
	// MaxPerIP bounds one client address's concurrent connections, so one
	// host cannot take every slot; zero means MaxConnections/10, at least 10.
	MaxPerIP int

	// Submission switches the listener to submission mode (submission.go):
	// AUTH required, mail only to case addresses.
	Submission bool
	// Authenticate checks mediator credentials in submission mode.
	Authenticate Authenticator
	// TLSConfig offers STARTTLS in submission mode; nil means none.
	TLSConfig *tls.Config
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
	s.srv = srv
	if cfg.Submission {
		s.setupSubmission()
	}
	return s
}

// NewSession starts a session with its own connection id for the logs.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	id := s.connID.Add(1)
	sess := &session{
		srv: s, conn: c, helo: c.Hostname(), remote: c.Conn().RemoteAddr().String(),
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
	return s.srv.Serve(&limitListener{Listener: l, max: s.cfg.MaxConnections, perIP: perIP, byIP: map[string]int{}, log: s.log})
}

// Shutdown stops accepting and waits for sessions to end (or ctx).
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// limitListener refuses connections over the limit with 421 instead of
// queueing them in the kernel until they time out.
type limitListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger

	mu      sync.Mutex
	active  int
	byIP    map[string]int
	refused int // since the last log line, so a flood does not flood the log
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
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
			if refused == 1 || refused%100 == 0 {
				l.log.Warn("connections refused: limit reached", "remote", ip, "max", l.max, "per_ip", l.perIP, "refused", refused)
			}
			continue
		}
		return &countedConn{Conn: c, l: l, ip: ip}, nil
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

// countedConn also watches the raw byte stream for a CR not followed by LF or
// an LF not preceded by CR. go-smtp's DATA reader swallows the CR of "\r\n.\r"
// while unstuffing dots, so the strict reader above it cannot see every bare
// CR; the session asks this flag at the end of DATA.
type countedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once

	mu       sync.Mutex
	prev     byte
	bareSeen bool
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	for _, b := range p[:n] {
		if (b == '\n' && c.prev != '\r') || (c.prev == '\r' && b != '\n') {
			c.bareSeen = true
		}
		c.prev = b
	}
	c.mu.Unlock()
	return n, err
}

// takeBare reports whether a bare CR or LF arrived since the last call.
func (c *countedConn) takeBare() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.bareSeen
	c.bareSeen = false
	return seen
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
	for _, routine := range []string{"connection reset by peer", "broken pipe", "i/o timeout", "EOF", "use of closed network connection"} {
		if strings.Contains(msg, routine) && !strings.Contains(msg, "panic") {
			l.log.Info(strings.TrimSpace(msg))
			return
		}
	}
	l.log.Error(strings.TrimSpace(msg))
}
