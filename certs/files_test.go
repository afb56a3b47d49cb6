package certs

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pair writes a fresh self-signed pair for host and returns its PEM bytes.
func pair(t *testing.T, host string) (cert, key []byte) {
	t.Helper()
	dir := t.TempDir()
	c, k := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := writeSelfSigned(dir, c, k, host); err != nil {
		t.Fatal(err)
	}
	cert, _ = os.ReadFile(c)
	key, _ = os.ReadFile(k)
	return cert, key
}

func TestFilesReloadedWhenReplaced(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	write := func(cert, key []byte, age time.Duration) {
		t.Helper()
		for p, b := range map[string][]byte{certFile: cert, keyFile: key} {
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			// Distinct modification times whatever the file system's resolution.
			mt := time.Now().Add(-age)
			os.Chtimes(p, mt, mt)
		}
	}
	c1, k1 := pair(t, "one.example.org")
	write(c1, k1, time.Hour)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	src, err := Open(Config{Hostname: "mx.example.org", DataDir: dir, CertFile: certFile, KeyFile: keyFile,
		Now: func() time.Time { return now }}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cfg := src.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("config: min version %x, client auth %v", cfg.MinVersion, cfg.ClientAuth)
	}
	name := func() string {
		t.Helper()
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := name(); got != "one.example.org" {
		t.Fatalf("serves %s", got)
	}

	c2, k2 := pair(t, "two.example.org")
	write(c2, k2, 0)
	if got := name(); got != "one.example.org" {
		t.Errorf("files looked at again within the minute: %s", got)
	}
	now = now.Add(recheckFiles)
	if got := name(); got != "two.example.org" {
		t.Errorf("after a minute serves %s, want the replaced pair", got)
	}

	// Half written: the previous pair stays in service, the log says why.
	write(c1[:len(c1)/2], k2, -time.Hour)
	now = now.Add(recheckFiles)
	if got := name(); got != "two.example.org" {
		t.Errorf("a broken pair replaced the good one: %s", got)
	}
	if !strings.Contains(logs.String(), "do not load") {
		t.Errorf("broken files not logged:\n%s", logs.String())
	}
}

func TestOpenRefusesBadCombinations(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, cfg := range map[string]Config{
		"half a pair":    {Hostname: "mx.example.org", DataDir: dir, CertFile: "/x.pem"},
		"acme and files": {Hostname: "mx.example.org", DataDir: dir, CertFile: "/x.pem", KeyFile: "/y.pem", ACME: true},
		"acme, no name":  {DataDir: dir, ACME: true},
		"missing files":  {Hostname: "mx.example.org", DataDir: dir, CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "none.key")},
	} {
		if _, err := Open(cfg, log); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Nothing named: the self-signed pair, made once.
	src, err := Open(Config{Hostname: "mx.example.org", DataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	if c := src.TLSConfig(); len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS12 || src.ACME() {
		t.Errorf("self-signed config: %+v", c)
	}
	for _, f := range []string{"cert.pem", "key.pem"} {
		st, err := os.Stat(filepath.Join(dir, SelfSignedDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
}
