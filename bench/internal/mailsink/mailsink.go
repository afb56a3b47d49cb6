// Package mailsink is the SMTP server (RFC 5321) that stands in for the
// smarthost in the benchmarks under bench/: it accepts every message and
// hands it, with its recipients, to the benchmark's own function.
package mailsink

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxMessage bounds what the sink reads of one message.
const MaxMessage = 32 << 20

// Deliver is called once per message, after all of it was read, from the
// session's goroutine (so concurrently for concurrent sessions).
type Deliver func(rcpts []string, raw []byte)

// Sink is one listening SMTP server.
type Sink struct {
	srv *smtp.Server
}

// Listen serves SMTP on addr ("127.0.0.1:0" picks a free port). A port that
// was just closed may still be taken for a moment, so it is tried for up to
// five seconds.
func Listen(addr string, deliver Deliver) (*Sink, net.Addr, error) {
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sink: listen on %s: %w", addr, err)
	}
	srv := smtp.NewServer(backend(deliver))
	srv.Domain = "sink.localhost"
	srv.MaxMessageBytes = MaxMessage
	srv.MaxRecipients = 100
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	go srv.Serve(l)
	return &Sink{srv: srv}, l.Addr(), nil
}

// Close stops listening and ends every session.
func (s *Sink) Close() error { return s.srv.Close() }

type backend Deliver

var _ smtp.Backend = backend(nil)

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{deliver: Deliver(b)}, nil
}

type session struct {
	deliver Deliver
	rcpts   []string
}

var _ smtp.Session = (*session)(nil)

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Reset()        { s.rcpts = nil }
func (s *session) Logout() error { return nil }

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, MaxMessage))
	if err != nil {
		return err
	}
	s.deliver(s.rcpts, raw)
	return nil
}
