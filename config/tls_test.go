package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSSection(t *testing.T) {
	load := func(t *testing.T, text string) (Config, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "parley.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c, c.Resolve()
	}
	if c := Default(); c.TLS.ACME || c.TLS.ACMEDirectory != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Errorf("defaults: %+v", c.TLS)
	}
	t.Run("old imap keys still read", func(t *testing.T) {
		c, err := load(t, "[imap]\ncert_file = \"/etc/c.pem\"\nkey_file = \"/etc/k.pem\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if cert, key := c.CertFiles(); cert != "/etc/c.pem" || key != "/etc/k.pem" {
			t.Errorf("CertFiles = %s %s", cert, key)
		}
	})
	t.Run("tls wins and the same file twice is fine", func(t *testing.T) {
		c, err := load(t, "[tls]\ncert_file = \"/etc/c.pem\"\nkey_file = \"/etc/k.pem\"\n[imap]\ncert_file = \"/etc/c.pem\"\nkey_file = \"/etc/k.pem\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if cert, _ := c.CertFiles(); cert != "/etc/c.pem" {
			t.Errorf("CertFiles = %s", cert)
		}
	})
	t.Run("acme on a public name", func(t *testing.T) {
		c, err := load(t, "domain = \"example.org\"\nhostname = \"mx.example.org\"\n[tls]\nacme = true\nacme_email = \"postmaster@example.org\"\nacme_tls_listen = \"0.0.0.0:443\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if !c.TLS.ACME || c.TLS.ACMETLSListen != "0.0.0.0:443" {
			t.Errorf("not applied: %+v", c.TLS)
		}
	})
	for name, tc := range map[string]struct{ text, want string }{
		"differing certificates": {"[tls]\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n[imap]\ncert_file = \"/b.pem\"\nkey_file = \"/b.key\"\n",
			"remove cert_file and key_file from [imap]"},
		"half a pair":         {"[tls]\ncert_file = \"/a.pem\"\n", "set both cert_file and key_file"},
		"acme and files":      {"hostname = \"mx.example.org\"\n[tls]\nacme = true\nacme_http_listen = \":80\"\ncert_file = \"/a.pem\"\nkey_file = \"/a.key\"\n", "choose one"},
		"acme on loopback":    {"[tls]\nacme = true\nacme_http_listen = \":80\"\n", "cannot get a certificate from a public CA"},
		"acme with no port":   {"hostname = \"mx.example.org\"\n[tls]\nacme = true\n", "port 443"},
		"acme plain http":     {"hostname = \"mx.example.org\"\n[tls]\nacme = true\nacme_http_listen = \":80\"\nacme_directory = \"http://ca.example.org/dir\"\n", "https://"},
		"challenges, no acme": {"[tls]\nacme_http_listen = \":80\"\n", "set acme = true"},
		"bad listen":          {"hostname = \"mx.example.org\"\n[tls]\nacme = true\nacme_tls_listen = \"443\"\n", "tls.acme_tls_listen"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
