// Package certs owns the one TLS certificate every Parley listener presents:
// STARTTLS on the port-25 SMTP listener (RFC 3207), IMAP with STARTTLS and
// implicit TLS (RFC 9051, RFC 8314), and submission (RFC 6409). The
// certificate comes from one of three places:
//
//   - files the operator names (cert_file, key_file), read again when they
//     change (looked at once a minute), so an outside renewal needs no restart;
//   - ACME (RFC 8555) through golang.org/x/crypto/acme/autocert, for the
//     configured host name only, answering TLS-ALPN-01 (RFC 8737) on a
//     listener of its own (the CA connects to port 443) and HTTP-01 on another
//     (port 80); certificates and the account key are cached in
//     DATA_DIR/acme (folder 0700, files 0600) and renewed before they expire;
//   - else a self-signed pair generated into DATA_DIR/tls, fine on loopback
//     and for opportunistic STARTTLS between MTAs, which do not verify.
//
// Every configuration asks for TLS 1.2 at least and no client certificate.
package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt production.
const LetsEncrypt = autocert.DefaultACMEDirectory

// ACMEDir is the folder under the data folder that caches the ACME account
// key and certificates.
const ACMEDir = "acme"

// Config says where the certificate comes from.
type Config struct {
	// Hostname is the name in the certificate (ACME asks for it alone).
	Hostname string
	// DataDir holds DATA/tls (self-signed) and DATA/acme (the ACME cache).
	DataDir string
	// CertFile and KeyFile are a PEM chain and key; both empty: ACME or
	// self-signed.
	CertFile, KeyFile string

	// ACME turns on automatic certificates from ACMEDirectory (empty:
	// LetsEncrypt); ACMEEmail is the account's contact, may be empty.
	ACME          bool
	ACMEEmail     string
	ACMEDirectory string
	// ACMEClient talks to the directory; nil is http.DefaultClient (tests
	// trust their own CA with it).
	ACMEClient *http.Client
	// RenewBefore is how long before expiry a certificate is renewed; zero
	// is autocert's default, a third of its lifetime.
	RenewBefore time.Duration
	// RetryFirst is the wait after a failed first issuance, doubled up to an
	// hour; zero is one minute.
	RetryFirst time.Duration
	// Now is the clock of the look at changed certificate files; nil is
	// time.Now.
	Now func() time.Time
}

// Source hands out the certificate to the listeners.
type Source struct {
	cfg    Config
	log    *slog.Logger
	static *tls.Config // self-signed; with ACME the fallback until a certificate is issued
	files  *fileCert   // the operator's files, when named
	mgr    *autocert.Manager
	cache  *closingCache
	ready  atomic.Bool // ACME has a certificate for the host name
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// Open prepares the source. With ACME it makes the self-signed fallback too
// (served until the first certificate arrives); Start begins issuance.
func Open(cfg Config, log *slog.Logger) (*Source, error) {
	if cfg.ACME && cfg.CertFile != "" {
		return nil, errors.New("TLS: acme = true and cert_file both set; choose one")
	}
	if cfg.ACME && cfg.Hostname == "" {
		return nil, errors.New("TLS: ACME needs a hostname")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Source{cfg: cfg, log: log, stop: func() {}}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("TLS: set both cert_file and key_file, or neither")
		}
		files, err := newFileCert(cfg.CertFile, cfg.KeyFile, cfg.Now, log)
		if err != nil {
			return nil, err
		}
		s.files = files
		return s, nil
	}
	static, err := LoadTLS(cfg.DataDir, "", "", cfg.Hostname)
	if err != nil {
		return nil, err
	}
	s.static = static
	if !cfg.ACME {
		return s, nil
	}
	dir := cfg.ACMEDirectory
	if dir == "" {
		dir = LetsEncrypt
	}
	s.cache = &closingCache{dir: autocert.DirCache(filepath.Join(cfg.DataDir, ACMEDir))}
	s.mgr = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       s.cache,
		HostPolicy:  autocert.HostWhitelist(cfg.Hostname),
		RenewBefore: cfg.RenewBefore,
		Client:      &acme.Client{DirectoryURL: dir, HTTPClient: cfg.ACMEClient},
		Email:       cfg.ACMEEmail,
	}
	return s, nil
}

// TLSConfig is the configuration for SMTP, IMAP and submission: whatever
// name the client asks for, it gets the host's certificate (MTAs and mail
// clients often connect by IP address or send no SNI at all).
func (s *Source) TLSConfig() *tls.Config {
	switch {
	case s.files != nil:
		return &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.NoClientCert,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.files.get(), nil }}
	case s.mgr == nil:
		return s.static.Clone()
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.NoClientCert,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if !s.ready.Load() {
				return &s.static.Certificates[0], nil
			}
			h := *hello
			h.ServerName = s.cfg.Hostname
			h.SupportedProtos = nil // a challenge is answered on the challenge listener only
			return s.mgr.GetCertificate(&h)
		},
	}
}

// ecdsaHello is how the background fetch asks autocert for the host's
// certificate: as a client that accepts ECDSA, autocert's default key.
func (s *Source) ecdsaHello() *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{ServerName: s.cfg.Hostname,
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256}}
}

// ACME reports whether certificates come from an ACME CA.
func (s *Source) ACME() bool { return s.mgr != nil }

// Start fetches the host's certificate in the background (from the cache,
// else from the CA, retrying with a doubling wait), so the first client does
// not wait for issuance; until then listeners present the self-signed
// fallback. autocert renews from then on by itself. Without ACME it does
// nothing.
func (s *Source) Start(ctx context.Context) {
	if s.mgr == nil {
		return
	}
	ctx, s.stop = context.WithCancel(ctx)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		wait := s.cfg.RetryFirst
		if wait <= 0 {
			wait = time.Minute
		}
		for {
			cert, err := s.mgr.GetCertificate(s.ecdsaHello())
			if err == nil {
				s.ready.Store(true)
				s.log.Info("ACME certificate ready", "host", s.cfg.Hostname, "expires", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
				return
			}
			s.log.Error("ACME certificate not issued yet; serving the self-signed one meanwhile", "host", s.cfg.Hostname,
				"retry_in", wait.String(), "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, time.Hour)
		}
	}()
}

// Ready reports whether an ACME certificate is being served.
func (s *Source) Ready() bool { return s.ready.Load() }

// challengeTLSConfig is for the listener the CA connects to for TLS-ALPN-01
// (port 443): it answers acme-tls/1 handshakes and presents the host's
// certificate to anyone else.
func (s *Source) challengeTLSConfig() *tls.Config {
	c := s.mgr.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	return c
}

// ServeTLSChallenges answers TLS-ALPN-01 on l until it is closed: the
// handshake is the whole exchange, so each connection is closed after it.
func (s *Source) ServeTLSChallenges(l net.Listener) error {
	cfg := s.challengeTLSConfig()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ACME TLS-ALPN-01 listener: %w", err)
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if err := tls.Server(c, cfg).Handshake(); err != nil {
				s.log.Debug("ACME TLS-ALPN-01 handshake", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// HTTPChallenges is the handler for HTTP-01 on port 80. Calling it enables
// HTTP-01 next to TLS-ALPN-01, so call it before Start. Anything but a
// challenge gets 404. A port in the Host header is dropped first: autocert
// compares the bare name with its host policy, and behind a port forward
// (or in a test) the header names the port it was sent to.
func (s *Source) HTTPChallenges() http.Handler {
	h := s.mgr.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Parley answers ACME challenges here, nothing else", http.StatusNotFound)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// Close stops the background fetch and closes the cache, so a renewal still
// running cannot write into the data folder any more.
func (s *Source) Close() {
	s.stop()
	s.done.Wait()
	if s.cache != nil {
		s.cache.close()
	}
}

// closingCache is autocert's DirCache with an end: after close, reads and
// writes fail (autocert's renewal timers have no stop of their own).
type closingCache struct {
	dir    autocert.DirCache
	mu     sync.RWMutex
	closed bool
}

var _ autocert.Cache = (*closingCache)(nil)

var errCacheClosed = errors.New("ACME cache closed")

func (c *closingCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errCacheClosed
	}
	return c.dir.Get(ctx, key)
}

func (c *closingCache) Put(ctx context.Context, key string, data []byte) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errCacheClosed
	}
	return c.dir.Put(ctx, key, data)
}

func (c *closingCache) Delete(ctx context.Context, key string) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errCacheClosed
	}
	return c.dir.Delete(ctx, key)
}

func (c *closingCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}
