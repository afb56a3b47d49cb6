package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"parley/smtpclient"
)

// Opening an SMTP session with one MX address: STARTTLS as the recipient
// domain's policy needs it (opportunistic by RFC 7435, verified under
// MTA-STS enforce by RFC 8461), under a time bound for the whole opening.

// tlsNeed is what TLS a connection must have.
type tlsNeed int

const (
	tlsMay       tlsNeed = iota // STARTTLS when offered, any certificate, else clear text (RFC 7435)
	tlsTryVerify                // as tlsMay, reporting a certificate that does not verify (MTA-STS testing)
	tlsVerify                   // STARTTLS with a certificate valid for the MX name, or nothing (MTA-STS enforce)
)

// connect opens a session with addr, with TLS as need says, and returns the
// TLS it got in words.
func (m *MX) connect(ctx context.Context, host, addr string, need tlsNeed, pol *stsPolicy) (*smtpclient.Client, string, error) {
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
	c, err := m.session(ctx, addr)
	if err != nil {
		return nil, "", err
	}
	offered, _ := c.Extension("STARTTLS")
	if offered {
		err = m.bounded(ctx, c, "STARTTLS and EHLO", func() error { return c.StartTLS(tc) })
		if err != nil && c.TLS() {
			c.Close()
			return nil, "", err // TLS worked: the server's answer to EHLO in it stands
		}
	} else {
		err = errors.New("STARTTLS not offered")
	}
	if err == nil {
		cs, _ := c.ConnectionState()
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
		c.Close()
		return nil, "", fmt.Errorf("MTA-STS policy (enforce) requires TLS with a valid certificate for %s: %w", host, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || ctx.Err() != nil {
		c.Close()
		return nil, "", err
	}
	// No STARTTLS offered, or it failed: clear text, as opportunistic TLS
	// allows (a refusing server refuses the clear session too). Without the
	// offer the session goes on as it is; a failed handshake left it unusable.
	why := err
	if need == tlsTryVerify {
		m.log.Warn("MTA-STS testing: no TLS; delivering in clear text", "host", host, "err", why)
	}
	if offered {
		c.Close()
		if c, err = m.session(ctx, addr); err != nil {
			return nil, "", err
		}
	}
	return c, "no TLS (" + why.Error() + ")" + mode, nil
}

func (m *MX) connectLimit() time.Duration { return min(m.cfg.Timeout/4, mxConnectTimeout) }

func (m *MX) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: m.connectLimit()}
	return d.DialContext(ctx, "tcp", addr)
}

// session connects to addr and opens a session (greeting, EHLO) under the
// watchdog of bounded.
func (m *MX) session(ctx context.Context, addr string) (*smtpclient.Client, error) {
	conn, err := m.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	var c *smtpclient.Client
	err = m.bounded(ctx, conn, "greeting and EHLO", func() (err error) {
		c, err = smtpclient.New(conn, smtpclient.Options{Hostname: m.cfg.Hostname, Timeout: m.cfg.Timeout})
		return err
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// bounded runs step (the opening, or STARTTLS and its EHLO) under a
// watchdog that closes conn if the step outlasts mxConnectTimeout or ctx: a
// server that trickles its replies cannot hold a worker for the whole
// command timeout.
func (m *MX) bounded(ctx context.Context, conn io.Closer, what string, step func() error) error {
	limit := m.connectLimit()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(sctx, func() { conn.Close() })
	err := step()
	if !stop() {
		// Wraps context.DeadlineExceeded, a net.Error that times out.
		return fmt.Errorf("no %s within %s: %w", what, limit, sctx.Err())
	}
	return err
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
