// Package mailauth decides whether a message really comes from the domain in
// its From header: DMARC (RFC 7489) over SPF (RFC 7208, via
// blitiri.com.ar/go/spf) and DKIM (RFC 6376, via
// github.com/emersion/go-msgauth). Parley's sender binding compares the From
// address with a party's address; this is what keeps a forged From from
// speaking for a party when the party's domain publishes a DMARC policy.
package mailauth

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Resolver is the DNS the checks use; *net.Resolver implements it.
type Resolver = spf.DNSResolver

// Verdicts.
const (
	Pass      = "pass"      // aligned SPF or DKIM passed
	Fail      = "fail"      // the domain has a DMARC policy and nothing aligned passed
	None      = "none"      // the domain publishes no DMARC policy: nothing to enforce
	TempError = "temperror" // DNS did not answer; treated like none, and noted
	Skipped   = "skipped"   // a reserved test domain (.test, .example, .localhost, .invalid)
)

// Result is the outcome for one message.
type Result struct {
	Verdict string
	Domain  string // the From domain
	Policy  string // the DMARC policy that applies (none, quarantine, reject)
	SPF     string // the SPF result for the envelope sender, or "not checked"
	DKIM    []string
}

// Enforce reports whether the message must not be taken as coming from its
// From domain: DMARC failed under a quarantine or reject policy.
func (r Result) Enforce() bool {
	return r.Verdict == Fail && (r.Policy == string(dmarc.PolicyQuarantine) || r.Policy == string(dmarc.PolicyReject))
}

func (r Result) String() string {
	s := fmt.Sprintf("dmarc=%s", r.Verdict)
	if r.Policy != "" {
		s += " (p=" + r.Policy + ")"
	}
	s += " header.from=" + r.Domain + " spf=" + r.SPF
	if len(r.DKIM) > 0 {
		s += " dkim=pass(" + strings.Join(r.DKIM, ",") + ")"
	} else {
		s += " dkim=none"
	}
	return s
}

// Checker evaluates messages. It caches DMARC records for CacheFor.
type Checker struct {
	resolver Resolver
	timeout  time.Duration
	cacheFor time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	rec     *dmarc.Record
	err     error
	expires time.Time
}

// New returns a checker using resolver (nil: the system's).
func New(resolver Resolver) *Checker {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &Checker{resolver: resolver, timeout: 5 * time.Second, cacheFor: 10 * time.Minute, now: time.Now, cache: map[string]cached{}}
}

var reservedTLDs = []string{".test", ".example", ".invalid", ".localhost"}

// Reserved reports whether domain is reserved for tests and documentation
// (RFC 2606, RFC 6761), where no real policy can exist.
func Reserved(domain string) bool {
	d := "." + strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, t := range reservedTLDs {
		if strings.HasSuffix(d, t) {
			return true
		}
	}
	return d == ".example.com" || d == ".example.net" || d == ".example.org" || d == ".localhost"
}

// Check evaluates DMARC for a message that arrived from remote (with helo
// and mailFrom) and says it is from fromAddr. SPF is only evaluated for
// remote addresses on the internet: behind a local relay it says nothing.
func (c *Checker) Check(ctx context.Context, remote net.IP, helo, mailFrom, fromAddr string, raw []byte) Result {
	_, domain, _ := strings.Cut(strings.ToLower(fromAddr), "@")
	res := Result{Domain: domain, SPF: "not checked"}
	if domain == "" || Reserved(domain) {
		res.Verdict = Skipped
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rec, err := c.policy(ctx, domain)
	switch {
	case err != nil:
		res.Verdict = TempError
		return res
	case rec == nil:
		res.Verdict = None
		return res
	}
	res.Policy = string(rec.Policy)
	if org := orgDomain(domain); org != domain && rec.SubdomainPolicy != "" {
		res.Policy = string(rec.SubdomainPolicy)
	}

	lookup := func(name string) ([]string, error) { return c.resolver.LookupTXT(ctx, name) }
	if vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: 5}); err == nil || len(vs) > 0 {
		for _, v := range vs {
			if v.Err == nil {
				res.DKIM = append(res.DKIM, strings.ToLower(v.Domain))
			}
		}
	}
	spfAligned := false
	if remote != nil && remote.IsGlobalUnicast() && !remote.IsPrivate() && !remote.IsLoopback() {
		sender := mailFrom
		if sender == "" {
			sender = "postmaster@" + helo
		}
		r, _ := spf.CheckHostWithSender(remote, helo, sender, spf.WithResolver(c.resolver), spf.WithContext(ctx))
		res.SPF = string(r)
		_, envDomain, _ := strings.Cut(strings.ToLower(sender), "@")
		spfAligned = r == spf.Pass && aligned(envDomain, domain, rec.SPFAlignment)
	}
	dkimAligned := false
	for _, d := range res.DKIM {
		dkimAligned = dkimAligned || aligned(d, domain, rec.DKIMAlignment)
	}
	if spfAligned || dkimAligned {
		res.Verdict = Pass
	} else {
		res.Verdict = Fail
	}
	return res
}

// policy finds the DMARC record for domain, falling back to its
// organizational domain (RFC 7489 section 6.6.3).
func (c *Checker) policy(ctx context.Context, domain string) (*dmarc.Record, error) {
	c.mu.Lock()
	if e, ok := c.cache[domain]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.rec, e.err
	}
	c.mu.Unlock()
	lookup := func(name string) ([]string, error) { return c.resolver.LookupTXT(ctx, name) }
	rec, err := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{LookupTXT: lookup})
	if err == dmarc.ErrNoPolicy || isNotFound(err) {
		rec, err = nil, nil
		if org := orgDomain(domain); org != domain {
			rec, err = dmarc.LookupWithOptions(org, &dmarc.LookupOptions{LookupTXT: lookup})
			if err == dmarc.ErrNoPolicy || isNotFound(err) {
				rec, err = nil, nil
			}
		}
	}
	if err != nil && !dmarc.IsTempFail(err) {
		rec, err = nil, nil // a broken record is no policy (RFC 7489 section 6.6.3)
	}
	c.mu.Lock()
	c.cache[domain] = cached{rec: rec, err: err, expires: c.now().Add(c.cacheFor)}
	c.mu.Unlock()
	return rec, err
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	if e, ok := err.(*net.DNSError); ok {
		dnsErr = e
	}
	return dnsErr != nil && dnsErr.IsNotFound
}

func orgDomain(domain string) string {
	if org, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		return org
	}
	return domain
}

// aligned compares an authenticated domain with the From domain: the same
// organizational domain (relaxed) or the same name (strict).
func aligned(authDomain, fromDomain string, mode dmarc.AlignmentMode) bool {
	if mode == dmarc.AlignmentStrict {
		return authDomain == fromDomain
	}
	return orgDomain(authDomain) == orgDomain(fromDomain)
}
