package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"parley/casestore"
	"parley/smtpclient"
)

// MX delivers straight to the recipient domain's mail servers: MX records in
// preference order, the domain itself when it has none (RFC 5321 section
// 5.1), nothing at all for a null MX (RFC 7505). STARTTLS is used whenever
// offered; an MTA-STS policy in enforce mode (RFC 8461) limits delivery to
// the MX hosts it names, over TLS with a certificate valid for that name.
//
// A host that fails before the message content was sent (no connection, a
// 4xx greeting, MAIL or RCPT, TLS refused) makes the next one be tried; a
// 5xx to MAIL, RCPT or DATA fails the message at once. The attempt is
// described on the row (Via) for `parley case show`.
type MX struct {
	cfg   Config
	log   *slog.Logger
	dns   *net.Resolver
	sts   *stsPolicies
	roots *x509.CertPool // nil: the system's
	port  string
}

var _ Transport = (*MX)(nil)

// Bounds on one delivery attempt.
const (
	mxMaxHosts = 10  // MX hosts considered
	mxMaxConns = 5   // connections tried, over all hosts and addresses
	mxMaxNotes = 600 // bytes of failure text kept on the row
	// mxConnectTimeout bounds the connection and greeting with one address
	// (Postfix's smtp_connect_timeout), so a silent host leaves time for the
	// next; at most a quarter of the attempt's timeout.
	mxConnectTimeout = 30 * time.Second
)

// destError is a temporary failure of the whole destination (no MX host
// could be reached or none is allowed): the other messages to the domain
// wait too (destinations.go).
type destError struct{ err error }

func (d *destError) Error() string { return d.err.Error() }
func (d *destError) Unwrap() error { return d.err }

// Deliver sends one message to the MX hosts of its recipient's domain.
func (m *MX) Deliver(ctx context.Context, o *casestore.Outbound, raw io.Reader) error {
	o.Via = ""
	domain, err := idna.Lookup.ToASCII(recipientDomain(o.To))
	if err != nil {
		return &PermanentError{fmt.Errorf("recipient domain of %s: %w", o.To, err)}
	}
	hosts, err := m.hosts(ctx, domain)
	if err != nil {
		return err
	}
	pol := m.sts.policy(ctx, domain)
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	conns, transacted := 0, false
	for _, host := range hosts {
		if conns >= mxMaxConns {
			break
		}
		need := tlsMay
		if pol != nil {
			need = tlsTryVerify
			if !pol.allows(host) {
				if pol.Mode == stsEnforce {
					note("%s: not an MX host the MTA-STS policy of %s allows", host, domain)
					continue
				}
				m.log.Warn("MTA-STS testing: MX host not in the policy; delivering anyway", "domain", domain, "host", host)
			}
			if pol.Mode == stsEnforce {
				need = tlsVerify
			}
		}
		addrs, err := m.dns.LookupIPAddr(ctx, host)
		if err != nil {
			note("%s: %v", host, err)
			continue
		}
		for _, a := range addrs {
			if conns >= mxMaxConns {
				break
			}
			conns++
			addr := net.JoinHostPort(a.IP.String(), m.port)
			where := fmt.Sprintf("%s [%s]", host, addr)
			res, err := m.attempt(ctx, host, addr, need, pol, o, raw)
			switch {
			case err == nil:
				o.Via = where + ", " + res
				return nil
			case res == "sent":
				// The content is gone: another host cannot get it again now.
				return m.fail(o, where, err, true)
			}
			var se *smtpclient.Error
			if errors.As(err, &se) && res == "transaction" {
				transacted = true
				if se.Permanent() {
					return m.fail(o, where, err, true)
				}
			}
			note("%s: %v", where, err)
		}
	}
	if len(notes) == 0 {
		notes = append(notes, "no MX host to try")
	}
	return m.fail(o, domain, errors.New(strings.Join(notes, "; ")), transacted)
}

// fail describes a failed attempt on the row: a 5xx reply in a transaction
// is permanent, a failure before any transaction one of the destination.
func (m *MX) fail(o *casestore.Outbound, where string, err error, transacted bool) error {
	msg := where + ": " + err.Error()
	if len(msg) > mxMaxNotes {
		msg = msg[:mxMaxNotes] + "..."
	}
	o.Via = msg
	failure := errors.New(msg)
	var se *smtpclient.Error
	switch {
	case transacted && errors.As(err, &se) && se.Permanent():
		return &PermanentError{failure}
	case !transacted:
		return &destError{failure}
	}
	return failure
}

// hosts returns the names to try in order (RFC 5321 section 5.1).
func (m *MX) hosts(ctx context.Context, domain string) ([]string, error) {
	if domain == "" || strings.HasPrefix(domain, "[") {
		return nil, &PermanentError{fmt.Errorf("recipient domain %q: only domain names are delivered to directly", domain)}
	}
	mxs, err := m.dns.LookupMX(ctx, domain)
	var de *net.DNSError
	if err != nil && len(mxs) == 0 {
		if !errors.As(err, &de) || !de.IsNotFound {
			return nil, &destError{fmt.Errorf("MX lookup for %s: %w", domain, err)}
		}
		// No MX: the domain is its own mail server if it has an address.
		if _, err := m.dns.LookupIPAddr(ctx, domain); err != nil {
			if errors.As(err, &de) && de.IsNotFound {
				return nil, &PermanentError{fmt.Errorf("%s has no MX and no address record: no server takes mail for it", domain)}
			}
			return nil, &destError{fmt.Errorf("address lookup for %s (it has no MX): %w", domain, err)}
		}
		return []string{domain}, nil
	}
	var hosts []string
	null := false
	for _, mx := range mxs {
		if mx.Host == "." {
			null = true
			continue
		}
		if len(hosts) < mxMaxHosts {
			hosts = append(hosts, strings.TrimSuffix(mx.Host, "."))
		}
	}
	if len(hosts) == 0 && null {
		return nil, &PermanentError{fmt.Errorf("%s publishes a null MX (RFC 7505): the domain accepts no mail", domain)}
	}
	if len(hosts) == 0 {
		return nil, &destError{fmt.Errorf("MX lookup for %s: no usable record: %v", domain, err)}
	}
	return hosts, nil
}

// attempt runs one SMTP session with one address. Its first result says how
// far it got when it failed ("connect", "transaction" once MAIL was sent,
// "sent" once the content was), or describes the delivery when it succeeded.
func (m *MX) attempt(ctx context.Context, host, addr string, need tlsNeed, pol *stsPolicy, o *casestore.Outbound, raw io.Reader) (string, error) {
	c, tlsNote, err := m.connect(ctx, host, addr, need, pol)
	if err != nil {
		return "connect", err
	}
	defer c.Close()
	reply, err := c.Send(ctx, o.MailFrom, o.To, o.Size, raw)
	var content *smtpclient.ContentError
	if errors.As(err, &content) {
		return "sent", err
	}
	if err != nil {
		return "transaction", err
	}
	c.Quit()
	return tlsNote + ": 250 " + reply.Message, nil
}

// recipientDomain is the lower-case domain of an address.
func recipientDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	return strings.ToLower(strings.TrimSuffix(addr[at+1:], "."))
}

// Close does nothing: every delivery opens its own session.
func (m *MX) Close() error { return nil }
