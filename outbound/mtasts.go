package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MTA-STS (RFC 8461): a recipient domain publishes, over HTTPS, which MX
// hosts may receive its mail and whether senders must refuse to deliver
// anywhere else or without a valid certificate.

// Limits on what a policy fetch may take from the network.
const (
	stsMaxPolicy    = 64 << 10 // bytes of policy text; real ones are a few hundred
	stsFetchTimeout = 30 * time.Second
	stsMaxAge       = 31557600 // seconds, the RFC's ceiling (about a year)
	stsMaxMX        = 64       // mx patterns kept from one policy
	// stsRetryFetch is how long a failed fetch of one domain and id is not
	// tried again, so a dead policy host does not stall every message.
	stsRetryFetch = 5 * time.Minute
)

// STS modes (RFC 8461 section 3.2).
const (
	stsEnforce = "enforce"
	stsTesting = "testing"
	stsNone    = "none"
)

// stsPolicy is one domain's policy as fetched, with the id of the TXT record
// that announced it and when it was fetched.
type stsPolicy struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"`
	Mode    string    `json:"mode"`
	MX      []string  `json:"mx"`
	MaxAge  int64     `json:"max_age"` // seconds
	Fetched time.Time `json:"fetched"`
}

func (p *stsPolicy) expired(now time.Time) bool {
	return !now.Before(p.Fetched.Add(time.Duration(p.MaxAge) * time.Second))
}

// allows reports whether host matches one of the policy's mx patterns: an
// exact name, or "*.example.com" standing for one more leftmost label.
func (p *stsPolicy) allows(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		pat = strings.ToLower(strings.TrimSuffix(pat, "."))
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			if label, rest, found := strings.Cut(host, "."); found && label != "" && rest == suffix {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// parseSTSRecord reads the _mta-sts TXT records (section 3.1): records not
// starting with v=STSv1 are ignored; anything but exactly one valid record
// means the domain has no policy.
func parseSTSRecord(txts []string) (id string, err error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1;") || t == "v=STSv1" {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%d v=STSv1 TXT records, want exactly one", len(found))
	}
	for _, field := range strings.Split(found[0], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		if k == "id" {
			id = v
		}
	}
	if id == "" || len(id) > 32 || strings.IndexFunc(id, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return "", fmt.Errorf("TXT record id %q: want 1 to 32 letters and digits", id)
	}
	return id, nil
}

// parseSTSPolicy reads the policy text (section 3.2): "key: value" lines.
func parseSTSPolicy(text string) (*stsPolicy, error) {
	p := &stsPolicy{MaxAge: -1}
	version := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("policy line %q: want key: value", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			version = v
		case "mode":
			p.Mode = v
		case "max_age":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("policy max_age %q: want seconds", v)
			}
			p.MaxAge = min(n, stsMaxAge)
		case "mx":
			if len(p.MX) < stsMaxMX {
				p.MX = append(p.MX, v)
			}
		}
	}
	switch {
	case version != "STSv1":
		return nil, fmt.Errorf("policy version %q: want STSv1", version)
	case p.Mode != stsEnforce && p.Mode != stsTesting && p.Mode != stsNone:
		return nil, fmt.Errorf("policy mode %q: want enforce, testing or none", p.Mode)
	case p.MaxAge < 0:
		return nil, errors.New("policy has no max_age")
	case p.Mode != stsNone && len(p.MX) == 0:
		return nil, fmt.Errorf("policy in mode %s names no mx", p.Mode)
	}
	return p, nil
}

// stsPolicies finds the policy that applies to a recipient domain, keeping
// fetched policies in a folder (one JSON file per domain) until their
// max_age ends or the domain announces a new id (section 5.1).
type stsPolicies struct {
	dir  string
	dns  *net.Resolver
	http *http.Client
	now  func() time.Time
	log  *slog.Logger

	mu     sync.Mutex
	cache  map[string]*stsPolicy // mirrors dir; bounded by the domains mailed
	failed map[string]time.Time  // "domain id" -> when its fetch failed
}

// newSTSPolicies fetches policies with an HTTPS client that resolves through
// res, trusts roots (nil: the system's), connects to port (empty: 443),
// follows no redirect (section 3.3) and gives up after stsFetchTimeout.
func newSTSPolicies(dir string, res *net.Resolver, roots *x509.CertPool, port string, now func() time.Time, log *slog.Logger) *stsPolicies {
	dialer := &net.Dialer{Resolver: res, Timeout: stsFetchTimeout}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if port != "" {
				host, _, _ := net.SplitHostPort(addr)
				addr = net.JoinHostPort(host, port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:        &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    stsFetchTimeout,
		ResponseHeaderTimeout:  stsFetchTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	client := &http.Client{Transport: tr, Timeout: stsFetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &stsPolicies{dir: dir, dns: res, http: client, now: now, log: log, cache: map[string]*stsPolicy{}, failed: map[string]time.Time{}}
}

// policy returns the policy in force for domain, or nil when there is none
// (or mode none). Failing to find or fetch one is never an error: without a
// usable cached policy, mail goes as if the domain had none (section 5.1).
func (s *stsPolicies) policy(ctx context.Context, domain string) *stsPolicy {
	now := s.now()
	cached := s.cached(domain)
	if cached != nil && cached.expired(now) {
		cached = nil
	}
	txts, err := s.dns.LookupTXT(ctx, "_mta-sts."+domain)
	var id string
	if err == nil {
		id, err = parseSTSRecord(txts)
	}
	if err != nil {
		if cached != nil {
			s.log.Info("MTA-STS record not found; the cached policy still applies", "domain", domain, "err", err)
		}
		return usable(cached)
	}
	if cached != nil && cached.ID == id {
		return usable(cached)
	}
	if s.failedRecently(domain+" "+id, now) {
		return usable(cached)
	}
	p, err := s.fetch(ctx, domain)
	if err != nil {
		s.log.Warn("MTA-STS policy fetch failed", "domain", domain, "err", err, "cached", cached != nil, "retry_after", stsRetryFetch)
		s.fetchFailed(domain+" "+id, now)
		return usable(cached)
	}
	p.Domain, p.ID, p.Fetched = domain, id, now
	if err := s.store(p); err != nil {
		s.log.Warn("MTA-STS policy cache", "domain", domain, "err", err)
	}
	return usable(p)
}

func (s *stsPolicies) failedRecently(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.failed[key]
	return ok && now.Sub(at) < stsRetryFetch
}

func (s *stsPolicies) fetchFailed(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failed) >= maxDestinations {
		for k, at := range s.failed {
			if now.Sub(at) >= stsRetryFetch {
				delete(s.failed, k)
			}
		}
	}
	s.failed[key] = now
}

func usable(p *stsPolicy) *stsPolicy {
	if p == nil || p.Mode == stsNone {
		return nil
	}
	return p
}

func (s *stsPolicies) fetch(ctx context.Context, domain string) (*stsPolicy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s (want 200; redirects are not followed)", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("fetch %s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, stsMaxPolicy+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if len(body) > stsMaxPolicy {
		return nil, fmt.Errorf("fetch %s: policy larger than %d bytes", url, stsMaxPolicy)
	}
	p, err := parseSTSPolicy(string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return p, nil
}

// cacheFile names domain's file, or "" for a name that is no plain domain.
func (s *stsPolicies) cacheFile(domain string) string {
	if domain == "" || len(domain) > 253 || strings.Trim(domain, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" || strings.HasPrefix(domain, ".") {
		return ""
	}
	return filepath.Join(s.dir, domain+".json")
}

func (s *stsPolicies) cached(domain string) *stsPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.cache[domain]; ok {
		return p
	}
	path := s.cacheFile(domain)
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var p stsPolicy
	if err := json.NewDecoder(io.LimitReader(f, 2*stsMaxPolicy)).Decode(&p); err != nil || p.Domain != domain {
		return nil
	}
	s.cache[domain] = &p
	return &p
}

// store keeps p in memory and on disk (written whole, then renamed).
func (s *stsPolicies) store(p *stsPolicy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache[p.Domain] = p
	path := s.cacheFile(p.Domain)
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
