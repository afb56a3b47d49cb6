package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"parley/certs/acmetest"
)

// starttlsChain turns on STARTTLS at an SMTP server and returns the chain it
// presents (unverified: the caller checks it).
func starttlsChain(addr, host string) ([]*x509.Certificate, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() (string, error) {
		for {
			line, err := r.ReadString('\n')
			if err != nil || len(line) < 4 || line[3] != '-' {
				return line, err
			}
		}
	}
	if _, err := reply(); err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "EHLO client.test\r\n")
	if _, err := reply(); err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "STARTTLS\r\n")
	if line, err := reply(); err != nil || !strings.HasPrefix(line, "220") {
		return nil, fmt.Errorf("STARTTLS answered %q %v", line, err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates, nil
}

// ACME through `parley serve`: [tls] acme = true with a TLS-ALPN-01
// listener; Pebble, running in the test, validates by connecting to it,
// and port 25 then presents the issued certificate. A restart serves the
// cached one.
func TestACMEThroughServe(t *testing.T) {
	const host = "mx.parley-e2e.example.net"
	chalAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(chalAddr)
	var tlsPort int
	fmt.Sscan(port, &tlsPort)
	ca := acmetest.Start(t, []string{host}, 1, tlsPort, 90*24*time.Hour)
	t.Setenv("SSL_CERT_FILE", ca.DirectoryCA) // the daemon trusts the CA's directory (Go reads it on Linux)

	s := newSink(t)
	s.Start()
	d := newDaemonWithConfig(t, s.addr, fmt.Sprintf("[tls]\nacme = true\nacme_email = \"postmaster@parley-e2e.example.net\"\nacme_directory = %q\nacme_tls_listen = %q\n",
		ca.Directory, chalAddr))
	cfg, err := os.ReadFile(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.cfgPath, append([]byte("hostname = \""+host+"\"\n"), cfg...), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start()

	issued := func() *x509.Certificate {
		var leaf *x509.Certificate
		if !waitUntil(60*time.Second, 100*time.Millisecond, func() bool {
			chain, err := starttlsChain(d.smtpAddr, host)
			if err != nil || strings.Contains(strings.Join(chain[0].Subject.Organization, ""), "self-signed") {
				return false
			}
			leaf = ca.Verify(t, host, chain)
			return true
		}) {
			t.Fatal("port 25 never presented a certificate from the ACME CA")
		}
		return leaf
	}
	first := issued()
	log, _ := os.ReadFile(d.logPath)
	if !bytes.Contains(log, []byte("ACME certificate ready")) {
		t.Errorf("log does not say the certificate is ready:\n%s", log)
	}
	d.Restart()
	if again := issued(); !bytes.Equal(again.Raw, first.Raw) {
		t.Errorf("after a restart a new certificate was fetched instead of the cached one")
	}
}
