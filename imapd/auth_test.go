package imapd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"parley/certs"
)

func TestLoginRateLimitedPerAddress(t *testing.T) {
	h := newHarness(t, withAuth(AuthConfig{MaxFailuresPerAddr: 3, MaxFailuresPerAccount: 100, Window: time.Hour, FailDelay: -1}))
	try := func(user, pw string) error {
		c, err := imapclient.DialInsecure(h.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(user, pw).Wait()
	}
	for i, user := range []string{testUser, testUser, testUser} {
		err := try(user, "wrong password "+string(rune('a'+i)))
		if code := imapCode(err); code != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("bad login %d: %v (code %q), want NO [AUTHENTICATIONFAILED]", i+1, err, code)
		}
	}
	// The address is now blocked, even with the right password.
	err := try(testUser, testPassword)
	if code := imapCode(err); code != imap.ResponseCodeUnavailable || !strings.Contains(err.Error(), "try again in") {
		t.Fatalf("login after 3 failures: %v (code %q), want NO [UNAVAILABLE] with a wait", err, code)
	}
	logs := h.log.String()
	for _, secret := range []string{testPassword, "wrong password"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a password (%q)", secret)
		}
	}
	if !strings.Contains(logs, "login refused: rate limit") {
		t.Errorf("the refusal is not logged")
	}
}

func TestLoginRateLimitedPerAccount(t *testing.T) {
	h := newHarness(t)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := NewAuthenticator(h.store, AuthConfig{MaxFailuresPerAddr: 100, MaxFailuresPerAccount: 2, Window: 10 * time.Minute, FailDelay: -1, Now: clock}, h.logger())
	ctx := context.Background()
	addr := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	for i, ip := range []string{"192.0.2.10", "198.51.100.7"} {
		if _, err := a.Login(ctx, addr(ip), testUser, "not it at all"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// Two failures from two addresses lock the account, for everyone.
	_, err := a.Login(ctx, addr("203.0.113.9"), strings.ToUpper(testUser), testPassword)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.Wait <= 0 || rl.Wait > 10*time.Minute {
		t.Fatalf("third login: %v, want a rate limit", err)
	}
	// Other accounts and addresses are not affected.
	if _, err := a.Login(ctx, addr("203.0.113.9"), "other@example.org", "whatever it is"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("other account: %v", err)
	}
	// The window passes.
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	email, err := a.Login(ctx, addr("203.0.113.9"), strings.ToUpper(testUser), testPassword)
	if err != nil || email != testUser {
		t.Fatalf("after the window: %q, %v", email, err)
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	l := newLimiter(3, time.Minute, time.Now)
	for i := 0; i < maxLimiterKeys+10; i++ {
		l.failed(string(rune(i)) + "x")
	}
	if n := len(l.fail); n > maxLimiterKeys {
		t.Fatalf("limiter holds %d keys", n)
	}
}

// localAddr returns an address of this host that is not loopback, or "".
func localAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

func TestPlainLoginOnlyOnLoopbackOrTLS(t *testing.T) {
	ip := localAddr()
	if ip == "" {
		t.Skip("this host has no non-loopback IPv4 address to connect from")
	}
	h := newHarness(t)
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	go h.srv.Serve(l)
	c, err := imapclient.DialInsecure(l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || caps.Has(imap.Cap("AUTH=PLAIN")) {
		t.Errorf("capabilities off loopback without TLS: %v; want LOGINDISABLED and STARTTLS, no AUTH=PLAIN", caps)
	}
	if err := c.Login(testUser, testPassword).Wait(); imapCode(err) != imap.ResponseCodePrivacyRequired {
		t.Errorf("plain LOGIN off loopback: %v, want NO [PRIVACYREQUIRED]", err)
	}
	// After STARTTLS the same login works.
	st, err := imapclient.DialStartTLS(l.Addr().String(), &imapclient.Options{TLSConfig: tlsClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Login(testUser, testPassword).Wait(); err != nil {
		t.Errorf("LOGIN after STARTTLS: %v", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	h := newHarness(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.ServeTLS(l)
	c, err := imapclient.DialTLS(l.Addr().String(), &imapclient.Options{TLSConfig: tlsClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatalf("LOGIN over implicit TLS: %v", err)
	}
	// The self-signed certificate names localhost and is reused.
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("self-signed certificate: %v", err)
	}
	again, err := certs.LoadTLS(h.dir, "", "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Certificates[0].Certificate[0], cert.Raw) {
		t.Errorf("LoadTLS made a new certificate instead of reusing the one in the data folder")
	}
}

// Every local client shares 127.0.0.1, so there the address limit counts per
// account: one mediator's typos do not lock out the others.
func TestLoopbackTyposDoNotLockOutOthers(t *testing.T) {
	h := newHarness(t)
	a := NewAuthenticator(h.store, AuthConfig{MaxFailuresPerAddr: 2, MaxFailuresPerAccount: 100, Window: time.Hour, FailDelay: -1}, h.logger())
	local := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}
	for i := 0; i < 3; i++ {
		a.Login(context.Background(), local, "other@example.org", "mistyped password")
	}
	if email, err := a.Login(context.Background(), local, testUser, testPassword); err != nil || email != testUser {
		t.Fatalf("another mediator on loopback: %q, %v", email, err)
	}
	remote := &net.TCPAddr{IP: net.ParseIP("203.0.113.9"), Port: 40000}
	for i := 0; i < 2; i++ {
		a.Login(context.Background(), remote, "other@example.org", "mistyped password")
	}
	if _, err := a.Login(context.Background(), remote, testUser, testPassword); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a remote address guessing accounts is not limited: %v", err)
	}
}
