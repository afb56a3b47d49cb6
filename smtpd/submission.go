package smtpd

// Submission mode (RFC 6409): the listener mediators use when they cannot
// send through their own provider. It is the same server with three
// differences: AUTH PLAIN with mediator credentials is required (offered only
// over TLS or on loopback), MAIL FROM must be the mediator's own address, and
// RCPT accepts only case addresses (a party's or a case's mediator address).
// Accepted mail then takes the port-25 path: the same DATA reader, the same
// 250 rule, the same jobs.

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"parley/peer"
	"parley/route"
)

// Authenticator checks a mediator's credentials for submission and returns
// the mediator's address. Errors wrapping ErrBadCredentials answer 535,
// ErrTooManyFailures 454 with a wait, anything else 454 as a local problem.
type Authenticator func(ctx context.Context, remote net.Addr, username, password string) (string, error)

// Errors an Authenticator wraps.
var (
	ErrBadCredentials  = errors.New("bad credentials")
	ErrTooManyFailures = errors.New("too many failed logins")
)

var (
	errAuthNeeded = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: log in with your mediator address and password"}
	errTLSNeeded = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Must issue a STARTTLS command first"}
	errCaseOnly = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Submission only accepts case addresses: reply to a case message, or write to the case's mediator address"}
)

// setupSubmission switches a new server to submission mode.
func (s *Server) setupSubmission() {
	// AuthMechanisms decides per connection: TLS, or a loopback client.
	s.srv.AllowInsecureAuth = true
	s.srv.TLSConfig = s.cfg.TLSConfig
}

// submissionSession is a session that needs a login first.
type submissionSession struct {
	*session
	user string
}

var (
	_ smtp.Session     = (*submissionSession)(nil)
	_ smtp.AuthSession = (*submissionSession)(nil)
)

func (s *submissionSession) authAllowed() bool {
	if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		return true
	}
	return peer.IsLoopback(s.conn.Conn().RemoteAddr())
}

// AuthMechanisms offers PLAIN only where the password cannot be sniffed.
func (s *submissionSession) AuthMechanisms() []string {
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *submissionSession) Auth(mech string) (sasl.Server, error) {
	if !s.authAllowed() {
		return nil, errTLSNeeded
	}
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && !strings.EqualFold(identity, username) {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity must be empty or your own address"}
		}
		if s.srv.cfg.Authenticate == nil {
			return smtp.ErrAuthUnsupported
		}
		email, err := s.srv.cfg.Authenticate(context.Background(), s.conn.Conn().RemoteAddr(), username, password)
		switch {
		case errors.Is(err, ErrBadCredentials):
			return smtp.ErrAuthFailed
		case errors.Is(err, ErrTooManyFailures):
			return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed logins, try again later"}
		case err != nil:
			return tempFail(s.log, "authenticate", err)
		}
		s.user = email
		s.log = s.log.With("user", email)
		s.log.Info("login")
		return nil
	}), nil
}

// Mail requires a login, and the mediator's own address as the sender.
func (s *submissionSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == "" {
		return errAuthNeeded
	}
	if !strings.EqualFold(from, s.user) {
		s.log.Info("sender refused", "from", from)
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "Sender address must be your own address <" + s.user + ">"}
	}
	return s.session.Mail(from, opts)
}

// Rcpt accepts only case addresses of this domain: a party's or a case's
// mediator address.
func (s *submissionSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.user == "" {
		return errAuthNeeded
	}
	target, err := s.targetOf(to)
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se) && se.Code == 550 && se.EnhancedCode == (smtp.EnhancedCode{5, 1, 1}):
		return errCaseOnly // an unknown local part: say what submission takes
	case err != nil:
		return err
	case target.Kind != route.KindParty:
		s.log.Info("recipient refused: not a case address", "rcpt", to)
		return errCaseOnly
	}
	s.addRcpt(to, target)
	return nil
}
