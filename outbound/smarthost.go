package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"parley/casestore"
	"parley/smtpclient"
)

// Smarthost delivers through one relay, keeping its connection open between
// messages. A transaction is pipelined when the relay offers it (RFC 2920):
// MAIL, RCPT and DATA in one write, then the content; no RSET after a
// transaction that ended in 250, as the relay is ready for the next one.
type Smarthost struct {
	cfg  Config
	log  *slog.Logger
	c    *smtpclient.Client
	used time.Time
}

var _ Transport = (*Smarthost)(nil)

// idleReuse is how long an idle connection is trusted before it is replaced;
// relays close idle sessions after a while (Postfix: 300 s).
const idleReuse = 30 * time.Second

func (s *Smarthost) connect(ctx context.Context) (c *smtpclient.Client, kept bool, err error) {
	if s.c != nil && time.Since(s.used) < idleReuse {
		return s.c, true, nil
	}
	if s.c != nil {
		s.c.Quit()
		s.c = nil
	}
	c, err = s.open(ctx, s.cfg.TLS != "none")
	if err != nil && s.cfg.TLS == "opportunistic" {
		// A failed handshake left the session unusable: clear text on a
		// new one (RFC 7435).
		c, err = s.open(ctx, false)
	}
	if err != nil {
		return nil, false, err
	}
	if s.cfg.Username != "" {
		if err := c.Auth(s.cfg.Username, s.cfg.Password); err != nil {
			// Even a 5xx is not the message's fault: a wrong password is
			// the operator's to fix, so the mail stays queued.
			c.Close()
			return nil, false, fmt.Errorf("AUTH at %s: %w", s.cfg.Smarthost, err)
		}
	}
	s.c = c
	return c, false, nil
}

// open dials the relay and opens a session, with STARTTLS when withTLS
// (required with tls = "starttls", when offered with "opportunistic").
func (s *Smarthost) open(ctx context.Context, withTLS bool) (*smtpclient.Client, error) {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Smarthost)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.cfg.Smarthost, err)
	}
	c, err := smtpclient.New(conn, smtpclient.Options{Hostname: s.cfg.Hostname, Timeout: s.cfg.Timeout})
	if err != nil {
		return nil, fmt.Errorf("greeting from %s: %w", s.cfg.Smarthost, err)
	}
	if offered, _ := c.Extension("STARTTLS"); !withTLS || !offered && s.cfg.TLS == "opportunistic" {
		return c, nil // opportunistic TLS without the offer: clear text on this session
	}
	host, _, _ := net.SplitHostPort(s.cfg.Smarthost)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.cfg.TLS == "opportunistic" {
		tc.InsecureSkipVerify = true // opportunistic TLS encrypts without authenticating (RFC 7435)
	}
	if err := c.StartTLS(tc); err != nil {
		c.Close()
		return nil, fmt.Errorf("STARTTLS with %s (tls = %q): %w", s.cfg.Smarthost, s.cfg.TLS, err)
	}
	return c, nil
}

// Deliver sends one message. 5xx replies are permanent; the rest is retried.
// A kept connection the relay had closed meanwhile costs a new connection,
// not a retry later: nothing of the transaction had reached the relay.
func (s *Smarthost) Deliver(ctx context.Context, o *casestore.Outbound, raw io.Reader) error {
	c, kept, err := s.connect(ctx)
	if err != nil {
		return err
	}
	_, err = c.Send(ctx, o.MailFrom, o.To, o.Size, raw)
	var stale *smtpclient.StaleError
	if kept && errors.As(err, &stale) {
		c.Close()
		s.c = nil
		if c, _, err = s.connect(ctx); err != nil {
			return err
		}
		_, err = c.Send(ctx, o.MailFrom, o.To, o.Size, raw)
	}
	s.used = time.Now()
	if err != nil {
		var se *smtpclient.Error
		if errors.As(err, &se) {
			if c.Reset() != nil {
				c.Close()
				s.c = nil
			}
			if se.Permanent() {
				return &PermanentError{fmt.Errorf("%s rejected: %w", s.cfg.Smarthost, err)}
			}
			return fmt.Errorf("%s deferred: %w", s.cfg.Smarthost, err)
		}
		c.Close()
		s.c = nil
		return err
	}
	return nil
}

// Close ends the connection politely.
func (s *Smarthost) Close() error {
	if s.c == nil {
		return nil
	}
	err := s.c.Quit()
	s.c = nil
	return err
}
