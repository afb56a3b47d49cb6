package smtpd

import (
	"io"

	"github.com/emersion/go-smtp"
)

// Data answers DATA (data, in session.go) and counts the answer and the
// bytes read.
func (s *session) Data(r io.Reader) error {
	cr := &countingReader{r: r}
	err := s.data(cr)
	code := replyCode(err)
	if code/100 == 2 {
		s.accepted++
	}
	s.srv.cfg.Metrics.Message(code, cr.n)
	return err
}

// Logout ends the session and counts it. go-smtp also calls it right after
// a STARTTLS handshake, before it reads a byte of plaintext: the moment to
// watch the plaintext, and not the end of the connection (a new session
// follows on it), so not counted.
func (s *session) Logout() error {
	if _, nowTLS := s.conn.TLSConnectionState(); nowTLS && !s.overTLS {
		watchPlaintext(s.conn, s.log)
		return nil
	}
	s.srv.cfg.Metrics.SessionEnded(s.accepted > 0)
	return nil
}

// replyCode is the code go-smtp answers for err (its dataErrorToStatus).
func replyCode(err error) int {
	if err == nil {
		return 250
	}
	if se, ok := err.(*smtp.SMTPError); ok { // as go-smtp reads it: not unwrapped
		return se.Code
	}
	return 554
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
