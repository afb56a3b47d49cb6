package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// zone is a test DNS: TXT records by name; anything else does not exist.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(strings.ToLower(name), ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (z zone) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (z zone) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (z zone) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func signed(t *testing.T, z zone, domain, msg string) []byte {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	z["sel._domainkey."+domain] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	var out bytes.Buffer
	if err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

const msg = "From: Shop <support@shop.nl>\r\nTo: x@disputes.test\r\nSubject: hi\r\n\r\nWe refund you.\r\n"

func TestDMARC(t *testing.T) {
	z := zone{
		"_dmarc.shop.nl":    {"v=DMARC1; p=reject"},
		"_dmarc.relaxed.de": {"v=DMARC1; p=quarantine; sp=none"},
		"shop.nl":           {"v=spf1 ip4:203.0.113.7 -all"},
		"_dmarc.monitor.fr": {"v=DMARC1; p=none"},
	}
	c := New(z)
	internet := net.ParseIP("203.0.113.7")
	other := net.ParseIP("198.51.100.9")
	cases := []struct {
		name, from, mailFrom string
		ip                   net.IP
		raw                  []byte
		verdict              string
		enforce              bool
	}{
		{"unsigned from elsewhere", "support@shop.nl", "support@shop.nl", other, []byte(msg), Fail, true},
		{"aligned DKIM", "support@shop.nl", "bounce@mailer.example", other, signed(t, z, "shop.nl", msg), Pass, false},
		{"DKIM of another domain", "support@shop.nl", "x@evil.example", other, signed(t, z, "evil.nl", msg), Fail, true},
		{"aligned SPF", "support@shop.nl", "support@shop.nl", internet, []byte(msg), Pass, false},
		{"SPF behind a local relay is not evidence", "support@shop.nl", "support@shop.nl", net.ParseIP("127.0.0.1"), []byte(msg), Fail, true},
		{"no policy", "a@nopolicy.com", "a@nopolicy.com", other, []byte(msg), None, false},
		{"p=none is not enforced", "a@monitor.fr", "a@monitor.fr", other, []byte(msg), Fail, false},
		{"subdomain policy", "a@mail.relaxed.de", "a@mail.relaxed.de", other, []byte(msg), Fail, false},
		{"reserved test domain", "support@acme.example", "support@acme.example", other, []byte(msg), Skipped, false},
	}
	for _, tc := range cases {
		r := c.Check(context.Background(), tc.ip, "mx.sender.test", tc.mailFrom, tc.from, tc.raw)
		if r.Verdict != tc.verdict || r.Enforce() != tc.enforce {
			t.Errorf("%s: %s (enforce %v), want %s (enforce %v)", tc.name, r, r.Enforce(), tc.verdict, tc.enforce)
		}
	}
}

func TestTempErrorIsNotEnforced(t *testing.T) {
	c := New(failing{})
	r := c.Check(context.Background(), nil, "h", "a@shop.nl", "a@shop.nl", []byte(msg))
	if r.Verdict != TempError || r.Enforce() {
		t.Fatalf("%s", r)
	}
}

type failing struct{ zone }

func (failing) LookupTXT(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "server misbehaving", IsTemporary: true}
}
