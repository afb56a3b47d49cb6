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

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"parley/casestore"
)

// Smarthost delivers through one relay, keeping its connection open between
// messages (RSET after each) so a busy queue does not pay a handshake per message.
type Smarthost struct {
	cfg  Config
	log  *slog.Logger
	c    *smtp.Client
	used time.Time
}

var _ Transport = (*Smarthost)(nil)

// idleReuse is how long an idle connection is trusted before it is replaced.
const idleReuse = 30 * time.Second

func (s *Smarthost) connect(ctx context.Context) (*smtp.Client, error) {
	if s.c != nil && time.Since(s.used) < idleReuse {
		if err := s.c.Reset(); err == nil {
			return s.c, nil
		}
		s.c.Close()
		s.c = nil
	} else if s.c != nil {
		s.c.Quit()
		s.c = nil
	}
	host, _, _ := net.SplitHostPort(s.cfg.Smarthost)
	var c *smtp.Client
	var err error
	if s.cfg.TLS != "none" {
		tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if s.cfg.TLS == "opportunistic" {
			tc.InsecureSkipVerify = true // opportunistic TLS encrypts without authenticating (RFC 7435)
		}
		// go-smtp sends EHLO before STARTTLS with its default name; the
		// smarthost sees our hostname after TLS is up.
		c, err = s.dial(ctx, func(conn net.Conn) (*smtp.Client, error) { return smtp.NewClientStartTLS(conn, tc) })
		if err != nil && s.cfg.TLS == "starttls" {
			return nil, fmt.Errorf("STARTTLS with %s (required by tls = \"starttls\"): %w", s.cfg.Smarthost, err)
		}
	}
	if c == nil {
		c, err = s.dial(ctx, func(conn net.Conn) (*smtp.Client, error) {
			c := smtp.NewClient(conn)
			return c, c.Hello(s.cfg.Hostname)
		})
		if err != nil {
			return nil, err
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			c.Close()
			var se *smtp.SMTPError
			if errors.As(err, &se) && se.Code >= 500 {
				return nil, &PermanentError{fmt.Errorf("AUTH at %s: %w", s.cfg.Smarthost, err)}
			}
			return nil, fmt.Errorf("AUTH at %s: %w", s.cfg.Smarthost, err)
		}
	}
	s.c = c
	return c, nil
}

func (s *Smarthost) dial(ctx context.Context, start func(net.Conn) (*smtp.Client, error)) (*smtp.Client, error) {
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Smarthost)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.cfg.Smarthost, err)
	}
	conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
	c, err := start(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting from %s: %w", s.cfg.Smarthost, err)
	}
	conn.SetDeadline(time.Time{})
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = s.cfg.Timeout
	return c, nil
}

// Deliver sends one message. 5xx replies are permanent; the rest is retried.
func (s *Smarthost) Deliver(ctx context.Context, o *casestore.Outbound, raw io.Reader) error {
	c, err := s.connect(ctx)
	if err != nil {
		var perm *PermanentError
		if errors.As(err, &perm) {
			// A wrong password is the operator's to fix; keep the mail queued.
			return perm.Err
		}
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.CommandTimeout = time.Until(dl)
	}
	err = s.send(c, o, raw)
	s.used = time.Now()
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			c.Reset()
			if se.Code >= 500 {
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

func (s *Smarthost) send(c *smtp.Client, o *casestore.Outbound, raw io.Reader) error {
	if err := c.Mail(o.MailFrom, &smtp.MailOptions{Size: o.Size}); err != nil {
		return err
	}
	if err := c.Rcpt(o.To, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, raw); err != nil {
		w.Close()
		return err
	}
	return w.Close()
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
