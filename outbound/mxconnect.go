package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-smtp"
)

// Opening an SMTP session with one MX address: STARTTLS as the recipient
// domain's policy needs it (opportunistic by RFC 7435, verified under
// MTA-STS enforce by RFC 8461), under a time bound go-smtp does not give.

// tlsNeed is what TLS a connection must have.
type tlsNeed int

const (
	tlsMay       tlsNeed = iota // STARTTLS when offered, any certificate, else clear text (RFC 7435)
	tlsTryVerify                // as tlsMay, reporting a certificate that does not verify (MTA-STS testing)
	tlsVerify                   // STARTTLS with a certificate valid for the MX name, or nothing (MTA-STS enforce)
)

// connect opens a session with addr, with TLS as need says, and returns the
// TLS it got in words.
func (m *MX) connect(ctx context.Context, host, addr string, need tlsNeed, pol *stsPolicy) (*smtp.Client, string, error) {
	mode := ""
	if pol != nil {
		mode = ", MTA-STS " + pol.Mode
	}
	verified := false
	var verifyErr error
	tc := &tls.Config{ServerName: host, RootCAs: m.roots, MinVersion: tls.VersionTLS12}
	if need != tlsVerify {
		// Opportunistic: encrypt whatever the certificate, but say whether it verified.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			verifyErr = verifyChain(cs, host, m.roots)
			verified = verifyErr == nil
			return nil
		}
	}
	conn, err := m.dial(ctx, addr)
	if err != nil {
		return nil, "", err
	}
	tlsUp := false
	c, err := m.start(ctx, conn, func(conn net.Conn) (*smtp.Client, error) {
		c, err := smtp.NewClientStartTLS(conn, tc) // EHLO (as "localhost"), STARTTLS
		if err != nil {
			return nil, err
		}
		tlsUp = true
		return c, c.Hello(m.cfg.Hostname) // EHLO again, in TLS, with our name
	})
	if err != nil && tlsUp {
		return nil, "", err // TLS worked: the server's answer stands
	}
	if err == nil {
		cs, _ := c.TLSConnectionState()
		state := "TLS " + tlsVersion(cs.Version)
		switch {
		case need == tlsVerify || verified:
			state += ", certificate verified"
		default:
			state += ", certificate not verified"
			if need == tlsTryVerify {
				m.log.Warn("MTA-STS testing: certificate does not verify; delivering anyway", "host", host, "err", verifyErr)
			}
		}
		return c, state + mode, nil
	}
	if need == tlsVerify {
		return nil, "", fmt.Errorf("MTA-STS policy (enforce) requires TLS with a valid certificate for %s: %w", host, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || ctx.Err() != nil {
		return nil, "", err
	}
	// No STARTTLS offered, or it failed: clear text, as opportunistic TLS
	// allows (a refusing server refuses the clear session too).
	why := err
	if need == tlsTryVerify {
		m.log.Warn("MTA-STS testing: no TLS; delivering in clear text", "host", host, "err", why)
	}
	if conn, err = m.dial(ctx, addr); err != nil {
		return nil, "", err
	}
	c, err = m.start(ctx, conn, func(conn net.Conn) (*smtp.Client, error) {
		c := smtp.NewClient(conn)
		return c, c.Hello(m.cfg.Hostname)
	})
	if err != nil {
		return nil, "", err
	}
	return c, "no TLS (" + why.Error() + ")" + mode, nil
}

func (m *MX) connectLimit() time.Duration { return min(m.cfg.Timeout/4, mxConnectTimeout) }

func (m *MX) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: m.connectLimit()}
	return d.DialContext(ctx, "tcp", addr)
}

// start runs the session's opening (greeting, EHLO, STARTTLS) on conn. go-smtp
// sets its own deadline for each command, so a watchdog closes conn if the
// opening outlasts mxConnectTimeout or ctx.
func (m *MX) start(ctx context.Context, conn net.Conn, open func(net.Conn) (*smtp.Client, error)) (*smtp.Client, error) {
	limit := m.connectLimit()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { conn.Close() })
	c, err := open(conn)
	if !stop() {
		// Wraps context.DeadlineExceeded, a net.Error that times out.
		return nil, fmt.Errorf("no greeting and EHLO within %s: %w", limit, sctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.CommandTimeout, c.SubmissionTimeout = m.cfg.Timeout, m.cfg.Timeout
	return c, nil
}

// verifyChain checks the peer's certificate for host as a default
// tls.Config would; used to report on connections that do not require it.
func verifyChain(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	opts := x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: x509.NewCertPool()}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}
