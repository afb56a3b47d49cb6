package smtpd

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"parley/certs"
)

// startTLS is a port-25 listener with the self-signed certificate.
func startTLS(t *testing.T) *harness {
	t.Helper()
	tlsCfg, err := certs.LoadTLS(t.TempDir(), "", "", "mx.disputes.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.TLSConfig = tlsCfg
	return start(t, cfg)
}

// dialTLS opens a session, checks STARTTLS is offered, turns it on with the
// given highest version, and says EHLO again.
func (h *harness) dialTLS(maxVersion uint16) *client {
	h.t.Helper()
	c := h.dial()
	fmt.Fprintf(c.conn, "EHLO client.test\r\n")
	if !strings.Contains(c.replyAll(), "STARTTLS") {
		h.t.Fatal("EHLO does not offer STARTTLS")
	}
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion, ServerName: "mx.disputes.test"})
	if err := tc.Handshake(); err != nil {
		h.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.cmd("EHLO client.test", "250")
	return c
}

// replyAll reads one reply and returns all its lines.
func (c *client) replyAll() string {
	c.t.Helper()
	var all strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v", err)
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String()
		}
	}
}

func TestSTARTTLSMessageIntactAndRecorded(t *testing.T) {
	h := startTLS(t)
	// Dot-stuffed lines, a lone dot inside a line, a long line, 8-bit text:
	// what arrives must be byte for byte what was sent, unstuffed.
	body := "Subject: over TLS\r\nMessage-ID: <tls-%d@client.test>\r\n\r\n.leading dot\r\n..two dots\r\na . in the middle\r\n" +
		strings.Repeat("x", 900) + "\r\nna\xc3\xafve\r\n"
	for _, tc := range []struct {
		max  uint16
		want string
	}{{tls.VersionTLS13, "TLS 1.3"}, {tls.VersionTLS12, "TLS 1.2"}} {
		body := fmt.Sprintf(body, tc.max)
		c := h.dialTLS(tc.max)
		c.cmd("MAIL FROM:<a@example.org>", "250")
		c.cmd("RCPT TO:<complaints@disputes.test>", "250")
		c.cmd("DATA", "354")
		stuffed := strings.ReplaceAll("\r\n"+body, "\r\n.", "\r\n..")[2:]
		c.raw(stuffed + ".\r\n")
		c.expect("250")
		c.cmd("QUIT", "221")
		msgs := h.messages()
		m := msgs[len(msgs)-1]
		sum := sha256.Sum256([]byte(body))
		if m.SHA256 != hex.EncodeToString(sum[:]) {
			raw, _ := h.store.Raw(m.SHA256)
			t.Fatalf("%s: stored message differs from the one sent:\n%q\nwant\n%q", tc.want, raw, body)
		}
		if !m.TLS || m.TLSVersion != tc.want || m.TLSCipher == "" {
			t.Errorf("row records TLS=%v %q %q, want %s and a cipher suite", m.TLS, m.TLSVersion, m.TLSCipher, tc.want)
		}
		t.Logf("%s: %s", m.TLSVersion, m.TLSCipher)
	}
	// Without STARTTLS the row says so.
	c := h.dial()
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	c.cmd("DATA", "354")
	c.raw("Subject: plain\r\n\r\nplain\r\n.\r\n")
	c.expect("250")
	msgs := h.messages()
	if m := msgs[len(msgs)-1]; m.TLS || m.TLSVersion != "" || m.TLSCipher != "" {
		t.Errorf("plain message recorded as TLS: %+v", m)
	}
}

func TestSmugglingOverSTARTTLSRefused(t *testing.T) {
	h := startTLS(t)
	testSmugglingRefused(t, h, func() *client { return h.dialTLS(tls.VersionTLS13) })
}

func TestSTARTTLSRefusesOldVersions(t *testing.T) {
	h := startTLS(t)
	c := h.dial()
	c.cmd("STARTTLS", "220")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS 1.1 handshake accepted; want 1.2 at least")
	}
}
