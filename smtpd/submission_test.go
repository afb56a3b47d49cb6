package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"parley/casestore"
	"parley/route"
)

const (
	subUser = "med@example.org"
	subPass = "the right password"
	subCase = "K7Q-4M2P"
)

func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func submissionConfig(t *testing.T) Config {
	cfg := testConfig()
	cfg.Submission = true
	cfg.TLSConfig = testTLS(t)
	cfg.Authenticate = func(_ context.Context, _ net.Addr, user, pw string) (string, error) {
		if strings.EqualFold(user, subUser) && pw == subPass {
			return subUser, nil
		}
		return "", fmt.Errorf("%w: %s", ErrBadCredentials, "no")
	}
	return cfg
}

// ehloLines sends EHLO and returns every line of the answer.
func ehloLines(t *testing.T, conn net.Conn, r *bufio.Reader) []string {
	t.Helper()
	fmt.Fprintf(conn, "EHLO client.test\r\n")
	var lines []string
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("EHLO: %v", err)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestSubmission(t *testing.T) {
	h := start(t, submissionConfig(t))
	if err := h.store.Update(func(tx *casestore.Tx) error {
		return tx.PutCase(&casestore.Case{ID: subCase, State: casestore.StateMediation})
	}); err != nil {
		t.Fatal(err)
	}
	party := h.keys.PartyLocal(subCase, route.Trader) + "@disputes.test"
	mediator := h.keys.PartyLocal(subCase, route.Mediator) + "@disputes.test"

	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	caps := strings.Join(ehloLines(t, conn, c.r), "\n")
	if !strings.Contains(caps, "AUTH PLAIN") || !strings.Contains(caps, "STARTTLS") {
		t.Errorf("loopback EHLO lacks AUTH PLAIN or STARTTLS:\n%s", caps)
	}
	c.cmd("MAIL FROM:<"+subUser+">", "530 5.7.0")
	c.cmd("RCPT TO:<"+party+">", "5")
	c.cmd("AUTH PLAIN "+plainIR(subUser, "wrong"), "535 5.7.8")
	c.cmd("AUTH PLAIN "+plainIR("MED@example.org", subPass), "235")
	c.cmd("MAIL FROM:<someone.else@example.org>", "553 5.7.1")
	c.cmd("MAIL FROM:<"+subUser+">", "250")
	for _, bad := range []string{"complaints@disputes.test", "postmaster@disputes.test", "nobody@disputes.test",
		"k7q-4m2p.t.a0000000000000@disputes.test", "friend@elsewhere.example", h.keys.ChoiceLocal(subCase, route.ChoiceMediation) + "@disputes.test"} {
		if r := c.cmd("RCPT TO:<"+bad+">", "550 5.7.1"); !strings.Contains(r, "case addresses") && !strings.Contains(r, "Relaying denied") {
			t.Errorf("RCPT %s: %q does not explain", bad, r)
		}
	}
	c.cmd("RCPT TO:<"+party+">", "250")
	c.cmd("RCPT TO:<"+mediator+">", "250")
	c.cmd("DATA", "354")
	c.raw("From: " + subUser + "\r\nSubject: proposal\r\nMessage-ID: <p1@example.org>\r\n\r\n#note called both parties\r\n.\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")

	msgs := h.messages()
	if len(msgs) != 2 {
		t.Fatalf("stored %d messages, want 2", len(msgs))
	}
	targets := []string{msgs[0].Target.String(), msgs[1].Target.String()}
	if targets[0] != "party:"+subCase+":t" || targets[1] != "party:"+subCase+":m" {
		t.Errorf("targets %q", targets)
	}
	h.jobs.mu.Lock()
	if len(h.jobs.jobs) != 2 {
		t.Errorf("%d jobs submitted, want 2", len(h.jobs.jobs))
	}
	h.jobs.mu.Unlock()
	if strings.Contains(h.log.String(), subPass) {
		t.Errorf("the log contains the password")
	}
}

func TestPort25OffersNoAuth(t *testing.T) {
	h := start(t, testConfig())
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	if caps := strings.Join(ehloLines(t, conn, r), "\n"); strings.Contains(caps, "AUTH") || strings.Contains(caps, "STARTTLS") {
		t.Errorf("port-25 EHLO changed:\n%s", caps)
	}
}

// TestSubmissionAuthNeedsTLSOffLoopback connects from this host's own
// non-loopback address: AUTH is offered only after STARTTLS.
func TestSubmissionAuthNeedsTLSOffLoopback(t *testing.T) {
	var ip string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				ip = n.IP.String()
				break
			}
		}
	}
	if ip == "" {
		t.Skip("this host has no non-loopback IPv4 address to connect from")
	}
	h := start(t, submissionConfig(t))
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	go h.srv.Serve(l)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	if caps := strings.Join(ehloLines(t, conn, c.r), "\n"); strings.Contains(caps, "AUTH") || !strings.Contains(caps, "STARTTLS") {
		t.Errorf("EHLO without TLS off loopback:\n%s", caps)
	}
	c.cmd("AUTH PLAIN "+plainIR(subUser, subPass), "5")
	c.cmd("STARTTLS", "220")
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tcl := &client{t: t, conn: tc, r: bufio.NewReader(tc)}
	if caps := strings.Join(ehloLines(t, tc, tcl.r), "\n"); !strings.Contains(caps, "AUTH PLAIN") {
		t.Errorf("EHLO after STARTTLS lacks AUTH PLAIN:\n%s", caps)
	}
	tcl.cmd("AUTH PLAIN "+plainIR(subUser, subPass), "235")
}
