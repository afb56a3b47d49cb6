package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDKIMKeys: the switch in its forms, and configs from before the
// Ed25519 key keep their RSA selector and key file.
func TestDKIMKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) (Config, error) {
		path := filepath.Join(dir, "p.toml")
		if err := os.WriteFile(path, []byte("data_dir = \"d\"\n[outbound]\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			return c, err
		}
		return c, c.Resolve()
	}
	for body, want := range map[string][2]bool{ // on for a test domain, on for a real one
		``:               {false, true},
		`dkim = "auto"`:  {false, true},
		`dkim = "on"`:    {true, true},
		`dkim = true`:    {true, true},
		`dkim = "off"`:   {false, false},
		`dkim = false`:   {false, false},
		`dkim_key = "k"`: {false, true},
	} {
		c, err := load(body)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if got := [2]bool{c.Outbound.DKIMOn(true), c.Outbound.DKIMOn(false)}; got != want {
			t.Errorf("%q: on (test domain, real domain) = %v, want %v", body, got, want)
		}
	}
	if _, err := load(`dkim = "maybe"`); err == nil || !strings.Contains(err.Error(), `want "auto", "on", "off", true or false`) {
		t.Errorf("dkim = maybe: %v", err)
	}

	c, err := load(`dkim_selector = ""`) // as `parley init` wrote it before: now the default pair
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outbound
	// (Relative paths are resolved from the config file's folder.)
	if o.DKIMSelector != "parley-rsa" || !strings.HasSuffix(o.DKIMKey, filepath.Join("d", "keys", "dkim.pem")) ||
		o.DKIMEd25519Selector != "parley-ed25519" || !strings.HasSuffix(o.DKIMEd25519Key, filepath.Join("d", "keys", "dkim-ed25519.pem")) {
		t.Errorf("defaults: %+v", o)
	}
	c, err = load("dkim_selector = \"mail2024\"\ndkim_key = \"/etc/parley/dkim.pem\"\n")
	if err != nil || c.Outbound.DKIMSelector != "mail2024" || c.Outbound.DKIMKey != "/etc/parley/dkim.pem" || c.Outbound.DKIMEd25519Selector != "parley-ed25519" {
		t.Errorf("an old config's RSA key: %+v %v", c.Outbound, err)
	}
	for body, key := range map[string]string{
		`dkim_selector = "bad selector"`:       "outbound.dkim_selector",
		`dkim_ed25519_selector = "-x"`:         "outbound.dkim_ed25519_selector",
		`dkim_ed25519_selector = "parley-rsa"`: "must differ",
	} {
		if _, err := load(body); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: %v, want an error naming %s", body, err, key)
		}
	}
}

func TestDNSPublishing(t *testing.T) {
	c := Default()
	if c.DNS.DMARCPolicy != "quarantine" || c.DNS.MTASTSMode != "enforce" || c.DNS.MTASTSMaxAge.D().Hours() != 168 {
		t.Errorf("defaults: %+v", c.DNS)
	}
	c.DNS.DMARCPolicy, c.DNS.MTASTSMode, c.DNS.MTASTSMaxAge = "strict", "on", 0
	c.DNS.DMARCRUA, c.DNS.TLSRPTRUA = "https://reports.example/", "nobody"
	err := c.Resolve()
	for _, key := range []string{"dns.dmarc_policy", "dns.mta_sts_mode", "dns.mta_sts_max_age", "dns.dmarc_rua", "dns.tlsrpt_rua"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	c = Default()
	c.DNS.DMARCRUA, c.DNS.TLSRPTRUA = "mailto:dmarc@reports.example", "https://reports.example/tlsrpt"
	if err := c.Resolve(); err != nil {
		t.Errorf("good report addresses refused: %v", err)
	}
}
