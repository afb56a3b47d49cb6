package dnsrecords

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"parley/config"
	"parley/dnstest"
)

func testParams(t *testing.T) Params {
	t.Helper()
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return Params{Domain: "disputes.shop.example.", Host: "Mail.Shop.example", DMARCPolicy: "quarantine",
		MTASTSMode: "enforce", MTASTSMaxAge: 7 * 24 * time.Hour,
		DKIM: []DKIMKey{{Selector: "parley-ed25519", Public: edPub}, {Selector: "parley-rsa", Public: &rsaKey.PublicKey}}}
}

func zoneOf(t *testing.T, s *Set) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteZone(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// parseZone reads zone-file text back with miekg/dns's parser.
func parseZone(t *testing.T, zone string) []dns.RR {
	t.Helper()
	var rrs []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("zone does not parse: %v\n%s", err, zone)
	}
	return rrs
}

func TestZoneParsesBack(t *testing.T) {
	set, err := Build(testParams(t))
	if err != nil {
		t.Fatal(err)
	}
	zone := zoneOf(t, set)
	rrs := parseZone(t, zone)
	got := map[string]string{}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Ttl != TTL || h.Class != dns.ClassINET {
			t.Errorf("%s: TTL %d class %d", h.Name, h.Ttl, h.Class)
		}
		key := h.Name + " " + dns.TypeToString[h.Rrtype]
		switch rr := rr.(type) {
		case *dns.MX:
			got[key] = rr.Mx
		case *dns.TXT:
			for _, s := range rr.Txt {
				if len(s) > 255 {
					t.Errorf("%s: a %d-byte string", key, len(s))
				}
			}
			if strings.Contains(key, "parley-rsa") && len(rr.Txt) < 2 {
				t.Errorf("RSA key in %d string(s), want it split", len(rr.Txt))
			}
			got[key] += strings.Join(rr.Txt, "")
		}
	}
	printed := 0
	for _, r := range set.Records {
		if r.Type == "" {
			continue
		}
		printed++
		want := r.Value
		if r.Type == "MX" {
			want = "mail.shop.example."
		}
		if g := got[r.Name+". "+r.Type]; g != want {
			t.Errorf("%s %s parsed back as %q, want %q", r.Name, r.Type, g, want)
		}
	}
	if printed != len(rrs) || len(rrs) != 8 {
		t.Errorf("%d records parsed, %d printed; want 8 (MX, 2 SPF, 2 DKIM, DMARC, MTA-STS, TLS-RPT)", len(rrs), printed)
	}
	for _, want := range []string{
		"disputes.shop.example.\t3600\tIN\tMX\t10 mail.shop.example.",
		`"v=spf1 a:mail.shop.example ~all"`,
		`_dmarc.disputes.shop.example.	3600	IN	TXT	"v=DMARC1; p=quarantine"`,
		`_smtp._tls.disputes.shop.example.	3600	IN	TXT	"v=TLSRPTv1; rua=mailto:postmaster@disputes.shop.example"`,
		";   mode: enforce\n;   mx: mail.shop.example\n;   max_age: 604800\n",
		"; mail.shop.example.\t3600\tIN\tA\t<IPv4 address>",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	if set.Policy != "version: STSv1\r\nmode: enforce\r\nmx: mail.shop.example\r\nmax_age: 604800\r\n" {
		t.Errorf("policy %q", set.Policy)
	}
}

func TestBuildOptions(t *testing.T) {
	p := testParams(t)
	p.DKIM, p.Host, p.DMARCPolicy, p.DMARCRUA, p.TLSRPTRUA, p.MTASTSMode = nil, "", "reject", "dmarc@reports.example", "https://tlsrpt.example/v1", "none"
	p.Smarthost = "relay.example:587"
	set, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	zone := zoneOf(t, set)
	for _, want := range []string{"10 disputes.shop.example.", `"v=DMARC1; p=reject; rua=mailto:dmarc@reports.example"`,
		`"v=TLSRPTv1; rua=https://tlsrpt.example/v1"`, "NOTE: DKIM signing is off", "NOTE: mail leaves through the smarthost relay.example:587"} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	for _, absent := range []string{"_domainkey", "_mta-sts", "STSv1", "v=spf1 a ~all"} {
		if strings.Contains(zone, absent) {
			t.Errorf("zone has %q:\n%s", absent, zone)
		}
	}
	// The MTA-STS id follows the policy.
	p = testParams(t)
	a, _ := Build(p)
	p.MTASTSMaxAge = 24 * time.Hour
	b, _ := Build(p)
	if stsID(a) == stsID(b) || stsID(a) == "" {
		t.Errorf("MTA-STS id %q did not change with the policy (%q)", stsID(a), stsID(b))
	}
	if _, err := Build(Params{}); err == nil {
		t.Error("no domain: no error")
	}
}

func stsID(s *Set) string {
	for _, r := range s.Records {
		if r.Kind == KindMTASTS {
			return r.Value
		}
	}
	return ""
}

// TestCheck serves a zone with some records right, one missing, some
// different, and expects the verdicts a resolver pointed at it gives.
func TestCheck(t *testing.T) {
	set, err := Build(testParams(t))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Build(testParams(t)) // the same names with other keys
	if err != nil {
		t.Fatal(err)
	}
	// A zone from the printed records, edited: SPF another, DMARC left
	// out, the RSA key another one.
	zone := editZone(t, set, map[string]string{
		"disputes.shop.example.\t3600\tIN\tTXT\t\"v=spf1": "disputes.shop.example. 3600 IN TXT \"v=spf1 mx -all\"\n" +
			"disputes.shop.example. 3600 IN TXT \"google-site-verification=abc\"",
		"_dmarc.":     "",
		"parley-rsa.": rsaLine(t, other),
	}) + "mail.shop.example. 3600 IN A 192.0.2.25\n"
	srv := dnstest.Serve(t, zone)
	res := config.DNS{Resolver: srv.Addr}.NewResolver()
	web, serve := policyServer(t, res, "mta-sts.disputes.shop.example")
	serve(http.StatusOK, "text/plain; charset=utf-8", set.Policy)
	vs := set.Check(context.Background(), res, web)
	want := map[string]Status{
		"MX disputes.shop.example": OK, "A/AAAA mail.shop.example": OK, "SPF disputes.shop.example": Differs,
		"SPF mail.shop.example": OK, "DKIM parley-ed25519._domainkey.disputes.shop.example": OK,
		"DKIM parley-rsa._domainkey.disputes.shop.example": Differs, "DMARC _dmarc.disputes.shop.example": Missing,
		"MTA-STS _mta-sts.disputes.shop.example": OK, "MTA-STS-policy mta-sts.disputes.shop.example": Missing,
		"TLS-RPT _smtp._tls.disputes.shop.example": OK,
	}
	for _, v := range vs {
		key := v.Record.Kind + " " + v.Record.Name
		if v.Status != want[key] {
			t.Errorf("%s: %s (%s), want %s", key, v.Status, v.Found, want[key])
		}
		delete(want, key)
	}
	if len(want) != 0 {
		t.Errorf("not checked: %v", want)
	}
	if !Failed(vs) {
		t.Error("check passes with a required record missing")
	}
	var out bytes.Buffer
	WriteVerdicts(&out, vs)
	flat := strings.Join(strings.Fields(out.String()), " ")
	for _, line := range []string{
		"differs SPF disputes.shop.example found: v=spf1 mx -all; want: v=spf1 a:mail.shop.example ~all",
		"missing DMARC _dmarc.disputes.shop.example want: v=DMARC1; p=quarantine",
		"ok A/AAAA mail.shop.example 192.0.2.25",
		"missing MTA-STS-policy mta-sts.disputes.shop.example want: the policy `parley dns` prints, at https://mta-sts.disputes.shop.example/.well-known/mta-sts.txt (recommended)",
	} {
		if !strings.Contains(flat, line) {
			t.Errorf("verdicts lack %q:\n%s", line, out.String())
		}
	}

	// Fixed, with extras an operator may add: the check passes; the
	// optional mta-sts host may stay missing.
	fixed := editZone(t, set, map[string]string{
		"disputes.shop.example.\t3600\tIN\tTXT\t\"v=spf1": `disputes.shop.example. 3600 IN TXT "v=spf1 a:mail.shop.example include:relay.example -all"`,
		"_dmarc.": `_dmarc.disputes.shop.example. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:d@shop.example"`,
	}) + "mail.shop.example. 3600 IN A 192.0.2.25\nmta-sts.disputes.shop.example. 3600 IN A 127.0.0.1\n"
	if err := srv.Set(fixed); err != nil {
		t.Fatal(err)
	}
	vs = set.Check(context.Background(), res, web)
	if Failed(vs) {
		out.Reset()
		WriteVerdicts(&out, vs)
		t.Errorf("check fails on a right zone:\n%s", out.String())
	}

	// Two DMARC records are as none (RFC 7489 6.6.3).
	if err := srv.Set(fixed + `_dmarc.disputes.shop.example. 3600 IN TXT "v=DMARC1; p=none"` + "\n"); err != nil {
		t.Fatal(err)
	}
	for _, v := range set.Check(context.Background(), res, web) {
		if v.Record.Kind == KindDMARC && (v.Status != Differs || !strings.Contains(v.Found, "2 records")) {
			t.Errorf("two DMARC records: %s %s", v.Status, v.Found)
		}
	}
}

// TestCheckPolicy: the MTA-STS policy fetched as senders fetch it.
func TestCheckPolicy(t *testing.T) {
	set, err := Build(testParams(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Serve(t, "mta-sts.disputes.shop.example. 3600 IN A 127.0.0.1\n")
	res := config.DNS{Resolver: srv.Addr}.NewResolver()
	web, serve := policyServer(t, res, "mta-sts.disputes.shop.example")
	var rec Record
	for _, r := range set.Records {
		if r.Kind == KindMTASTSPolicy {
			rec = r
		}
	}
	lf := strings.ReplaceAll(set.Policy, "\r\n", "\n")
	for _, c := range []struct {
		status      int
		ctype, body string
		want        Status
		found       string
	}{
		{200, "text/plain", lf, OK, "https://mta-sts.disputes.shop.example/.well-known/mta-sts.txt"},
		{200, "text/plain", strings.Replace(lf, "mx: mail.shop.example", "mx: backup.shop.example\nmx: mail.shop.example", 1), OK, ""},
		{200, "text/plain", strings.Replace(lf, "enforce", "testing", 1), Differs, "mode: testing"},
		{200, "text/plain", strings.Replace(lf, "mx: mail.shop.example", "mx: *.shop.example", 1), Differs, "mx: *.shop.example"},
		{200, "text/html", lf, Differs, `served as "text/html"`},
		{301, "text/plain", "", Differs, "301 Moved Permanently (senders follow no redirect)"},
		{404, "text/plain", "", Missing, ""},
		{200, "text/plain", strings.Repeat("x", 65<<10), Differs, "over 64 KiB"},
	} {
		serve(c.status, c.ctype, c.body)
		v := checkPolicy(context.Background(), web, rec)
		if v.Status != c.want || !strings.Contains(v.Found, c.found) {
			t.Errorf("%d %s %.40q: %s %q, want %s %q", c.status, c.ctype, c.body, v.Status, v.Found, c.want, c.found)
		}
	}
	// An untrusted certificate is an error, not a policy.
	v := checkPolicy(context.Background(), &http.Client{Transport: &http.Transport{DialContext: web.Transport.(*http.Transport).DialContext}}, rec)
	if v.Status != Error || !strings.Contains(v.Found, "certificate") {
		t.Errorf("untrusted certificate: %s %q", v.Status, v.Found)
	}
}

// policyServer is an HTTPS server for name (a certificate of its own,
// trusted by the client returned), reached through res as a sender would
// (a name res does not know is not found), answering what serve last set.
func policyServer(t *testing.T, res *net.Resolver, name string) (*http.Client, func(status int, ctype, body string)) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var mu sync.Mutex
	var status int
	var ctype, body string
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != name {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		if status == http.StatusMovedPermanently {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if _, err := res.LookupHost(ctx, host); err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, hs.Listener.Addr().String())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots}}}
	return client, func(st int, ct, b string) {
		mu.Lock()
		status, ctype, body = st, ct, b
		mu.Unlock()
	}
}

func TestCheckLookupFailure(t *testing.T) {
	set, err := Build(testParams(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	vs := set.Check(ctx, config.DNS{Resolver: "127.0.0.1:9"}.NewResolver(), http.DefaultClient)
	if !Failed(vs) || vs[0].Status != Error {
		t.Errorf("unanswered lookups: %+v", vs[0])
	}
}

// editZone is set's zone with each line starting with a key replaced by
// its value (dropped when empty).
func editZone(t *testing.T, set *Set, edits map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(zoneOf(t, set), "\n") {
		for prefix, repl := range edits {
			if strings.HasPrefix(line, prefix) {
				line = repl
			}
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func rsaLine(t *testing.T, set *Set) string {
	t.Helper()
	for _, line := range strings.Split(zoneOf(t, set), "\n") {
		if strings.HasPrefix(line, "parley-rsa.") {
			return line
		}
	}
	t.Fatal("no RSA key record")
	return ""
}
