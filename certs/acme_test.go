package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/certs/acmetest"
)

const testHost = "mx.parley.test"

func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration) *acmetest.CA {
	return acmetest.Start(t, []string{testHost}, httpPort, tlsPort, validity)
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// closedPort is a port nobody listens on.
func closedPort(t *testing.T) int {
	l, port := listen(t)
	l.Close()
	return port
}

func acmeSource(t *testing.T, p *acmetest.CA, renewBefore time.Duration) (*Source, string) {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	src, err := Open(Config{Hostname: testHost, DataDir: dir, ACME: true, ACMEEmail: "postmaster@parley.test",
		ACMEDirectory: p.Directory, ACMEClient: p.Client, RenewBefore: renewBefore, RetryFirst: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src, dir
}

// served is the leaf a client gets from an application listener (think
// IMAP on 993) using the source's configuration, asking for no name.
func served(t *testing.T, src *Source) []*x509.Certificate {
	t.Helper()
	l, _ := listen(t)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tls.Server(c, src.TLSConfig()).Handshake()
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("handshake with the application listener: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates
}

// until polls cond every 50ms for at most 60s: the CA works at its own pace.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkIssued verifies the served chain up to pebble's root for testHost and
// returns the leaf.
func checkIssued(t *testing.T, p *acmetest.CA, chain []*x509.Certificate) *x509.Certificate {
	t.Helper()
	return p.Verify(t, testHost, chain)
}

func TestACMEIssuesOverTLSALPNAndRenews(t *testing.T) {
	chalL, tlsPort := listen(t)
	// Certificates live an hour and are renewed two hours before expiry: due
	// as soon as issued, so autocert renews at once (it has no clock to
	// inject), and the renewal really goes through the CA again.
	p := startPebble(t, closedPort(t), tlsPort, time.Hour)
	src, dir := acmeSource(t, p, 2*time.Hour)
	go src.ServeTLSChallenges(chalL)

	if first := served(t, src)[0]; !strings.Contains(strings.Join(first.Subject.Organization, ""), "self-signed") {
		t.Fatalf("before ACME, want the self-signed fallback, got %v", first.Subject)
	}
	src.Start(context.Background())
	until(t, "the first certificate", src.Ready)
	first := checkIssued(t, p, served(t, src))
	t.Logf("issued serial %x, valid until %s", first.SerialNumber, first.NotAfter)

	var second *x509.Certificate
	until(t, "a renewed certificate", func() bool {
		second = served(t, src)[0]
		return second.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	checkIssued(t, p, served(t, src))
	if !second.NotBefore.After(first.NotBefore) && !second.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate is not newer: %s..%s after %s..%s", second.NotBefore, second.NotAfter, first.NotBefore, first.NotAfter)
	}
	src.Close() // stop renewing before the folder is checked and removed
	checkCache(t, dir)
}

func TestACMEIssuesOverHTTP01(t *testing.T) {
	httpL, httpPort := listen(t)
	// No TLS-ALPN-01 listener: autocert tries it first, the CA finds nobody
	// on the port, and the second order goes through HTTP-01.
	p := startPebble(t, httpPort, closedPort(t), 90*24*time.Hour)
	src, dir := acmeSource(t, p, 0)
	hs := &http.Server{Handler: src.HTTPChallenges(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(httpL)
	t.Cleanup(func() { hs.Close() })

	resp, err := http.Get("http://" + httpL.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HTTP listener answers %d to a non-challenge, want 404", resp.StatusCode)
	}

	src.Start(context.Background())
	until(t, "the certificate", src.Ready)
	before := checkIssued(t, p, served(t, src))
	src.Close()
	checkCache(t, dir)

	// A restart reads the cache: the same certificate, nothing asked of the CA
	// (there is no challenge listener any more).
	hs.Close()
	again, err := Open(Config{Hostname: testHost, DataDir: dir, ACME: true, ACMEDirectory: p.Directory, ACMEClient: p.Client},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	again.Start(context.Background())
	until(t, "the cached certificate", again.Ready)
	if after := served(t, again)[0]; !bytes.Equal(after.Raw, before.Raw) {
		t.Errorf("restart fetched a new certificate instead of the cached one")
	}
}

// checkCache: the ACME folder is 0700 and holds the account key and the
// certificate, 0600.
func checkCache(t *testing.T, dataDir string) {
	t.Helper()
	dir := filepath.Join(dataDir, ACMEDir)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("%s mode %o, want 700", dir, st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", e.Name(), info.Mode().Perm())
		}
	}
	if !names[testHost] || !names["acme_account+key"] {
		t.Errorf("ACME cache holds %v, want %s and the account key", names, testHost)
	}
}
