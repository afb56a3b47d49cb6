package outbound

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zone is a real DNS server on loopback answering from records in zone
// file syntax; names it does not hold are NXDOMAIN.
type zone struct {
	mu       sync.Mutex
	rrs      []dns.RR
	servfail string // a name answered with SERVFAIL, as by a broken server
	addr     string
}

func startZone(t *testing.T, records ...string) *zone {
	t.Helper()
	z := &zone{}
	z.set(t, records...)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: z}
	z.addr = pc.LocalAddr().String()
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z
}

// set replaces the zone's records.
func (z *zone) set(t *testing.T, records ...string) {
	t.Helper()
	var rrs []dns.RR
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("record %q: %v", r, err)
		}
		rrs = append(rrs, rr)
	}
	z.mu.Lock()
	z.rrs = rrs
	z.mu.Unlock()
}

// failName makes the zone answer SERVFAIL for name ("" for none).
func (z *zone) failName(name string) {
	z.mu.Lock()
	z.servfail = name
	z.mu.Unlock()
}

func (z *zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	if len(r.Question) == 1 {
		q := r.Question[0]
		known := false
		z.mu.Lock()
		for _, rr := range z.rrs {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				known = true
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		switch {
		case strings.EqualFold(q.Name, z.servfail):
			m.Answer, m.Rcode = nil, dns.RcodeServerFailure
		case !known:
			m.Rcode = dns.RcodeNameError
		}
		z.mu.Unlock()
	}
	w.WriteMsg(m)
}

// resolver sends every query to the zone, as config.DNS.NewResolver does.
func (z *zone) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, z.addr)
	}}
}

// testCA issues certificates that WithRootCAs makes trusted.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Parley test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a server certificate for names.
func (ca *testCA) issue(t *testing.T, names ...string) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// policyServer serves an MTA-STS policy over HTTPS with a certificate for
// mta-sts.DOMAIN, counting fetches.
type policyServer struct {
	mu      sync.Mutex
	text    string
	fetches atomic.Int32
	port    string
}

func startPolicyServer(t *testing.T, ca *testCA, domain, text string) *policyServer {
	t.Helper()
	p := &policyServer{text: text}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts."+domain {
			http.NotFound(w, r)
			return
		}
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, p.text)
	}))
	srv.TLS = ca.issue(t, "mta-sts."+domain)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, p.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return p
}
