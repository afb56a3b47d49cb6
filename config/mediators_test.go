package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIMAPAndSubmissionDefaults(t *testing.T) {
	c := Default()
	if c.IMAP.Listen != "127.0.0.1:1143" || c.IMAP.TLSListen != "" || c.IMAP.CertFile != "" || c.IMAP.KeyFile != "" {
		t.Errorf("imap defaults: %+v", c.IMAP)
	}
	if c.Submission.Listen != "127.0.0.1:1587" {
		t.Errorf("submission default: %+v", c.Submission)
	}
}

func TestIMAPAndSubmissionValidation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.toml")
	os.WriteFile(path, []byte("[imap]\nlisten = \"\"\ntls_listen = \"0.0.0.0:993\"\ncert_file = \"/etc/c.pem\"\nkey_file = \"/etc/k.pem\"\n[submission]\nlisten = \"\"\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatalf("IMAP off, implicit TLS on, submission off should validate: %v", err)
	}
	c = Default()
	c.IMAP.Listen, c.IMAP.TLSListen, c.Submission.Listen, c.IMAP.CertFile = "1143", "host-without-port", "::1", "/etc/c.pem"
	err = c.Resolve()
	if err == nil {
		t.Fatal("bad listen addresses and a certificate without key validated")
	}
	for _, want := range []string{"imap.listen", "imap.tls_listen", "submission.listen", "cert_file and key_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}
