// Package acmetest runs Let's Encrypt's test CA, Pebble (RFC 8555), inside a
// test on 127.0.0.1, with a DNS server of its own that resolves the test's
// host names to 127.0.0.1 for Pebble's validation authority. Validation is
// real: the VA connects to the challenge ports the test names (never
// PEBBLE_VA_ALWAYS_VALID). Only tests import it.
package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// CA is a running Pebble.
type CA struct {
	// Directory is the ACME directory URL (https, Pebble's own certificate).
	Directory string
	// Client trusts the directory's certificate.
	Client *http.Client
	// Roots holds the root that issued certificates chain to.
	Roots *x509.CertPool
	// DirectoryCA is the PEM file of the directory's certificate, for a
	// subprocess (SSL_CERT_FILE).
	DirectoryCA string
}

// Start runs Pebble until the test ends. Its VA resolves hosts to 127.0.0.1
// and validates HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort; certificates
// are valid for validity.
func Start(t testing.TB, hosts []string, httpPort, tlsPort int, validity time.Duration) *CA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random wait before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberate bad nonces
	t.Setenv("PEBBLE_AUTHZREUSE", "0")      // every order is validated afresh, renewals too
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1,
		map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: uint64(validity / time.Second)}})
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t, hosts), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	caFile := filepath.Join(t.TempDir(), "pebble-wfe.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &CA{Directory: srv.URL + wfe.DirectoryPath, Client: srv.Client(), Roots: roots, DirectoryCA: caFile}
}

// startDNS answers A queries for hosts with 127.0.0.1, everything else with
// no records, over TCP as Pebble's VA asks.
func startDNS(t testing.TB, hosts []string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, h := range hosts {
		known[strings.ToLower(dns.Fqdn(h))] = true
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA && known[strings.ToLower(qq.Name)] {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return l.Addr().String()
}

// Verify checks chain (leaf first, as a TLS peer sends it) up to the CA's
// root for host and returns the leaf.
func (c *CA) Verify(t testing.TB, host string, chain []*x509.Certificate) *x509.Certificate {
	t.Helper()
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: c.Roots, Intermediates: inter}); err != nil {
		t.Fatalf("certificate does not verify against the CA's root: %v (issuer %q)", err, chain[0].Issuer)
	}
	return chain[0]
}
