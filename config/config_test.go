package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Resolve(); err != nil {
		t.Fatalf("embedded defaults do not validate: %v", err)
	}
	if c.SMTP.Listen != "127.0.0.1:2525" || c.Domain != "disputes.localhost" || c.DataDir != "parley-data" {
		t.Errorf("defaults changed: %+v", c)
	}
	if c.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("metrics default = %q, want loopback 127.0.0.1:9464", c.Metrics.Listen)
	}
	if c.Outbound.Outbox != filepath.Join("parley-data", "outbox") {
		t.Errorf("outbox default = %q", c.Outbound.Outbox)
	}
	if c.SMTP.MaxMessageSize != 25<<20 || c.Outbound.GiveUp.D() != 5*24*time.Hour || c.Procedure.TraderWindow.Duration != 7*24*time.Hour {
		t.Errorf("limits: %+v %+v", c.SMTP, c.Outbound)
	}
}

func TestLoadOverridesAndRejectsUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("domain = \"example.test\"\n[outbound]\nmin_backoff = \"3s\"\nmax_backoff = \"1m\"\n[procedure]\ntrader_window = \"2d12h\"\n"), 0o600)
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "example.test" || c.Outbound.MinBackoff.D() != 3*time.Second || c.Procedure.TraderWindow.Duration != 60*time.Hour {
		t.Errorf("not applied: %+v", c)
	}
	if c.SMTP.Listen != "127.0.0.1:2525" {
		t.Error("unset keys must keep their defaults")
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("domian = \"typo.test\"\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "domian") {
		t.Errorf("unknown key not reported: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Domain = "bad domain"
	c.SMTP.MaxRecipients = 0
	c.Outbound.Smarthost = "smtp.example.com:587"
	c.Outbound.Username = "u" // AUTH in clear over the network
	c.Metrics.Listen = "9464"
	err := c.Resolve()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	c.Outbound.TLS = "maybe"
	if err2 := c.Validate(); err2 == nil || !strings.Contains(err2.Error(), "outbound.tls") {
		t.Errorf("bad tls mode accepted: %v", err2)
	}
	for _, want := range []string{"domain", "max_recipients", "AUTH", "metrics.listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestWriteSample(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parley.toml")
	if err := WriteSample(path, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("domain = \"edited.example\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSample(path, false); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteSample over an existing file: %v, want an error wrapping os.ErrExist", err)
	}
	if c, _ := Load(path); c.Domain != "edited.example" {
		t.Fatalf("WriteSample without overwrite changed the file: domain %q", c.Domain)
	}
	if err := WriteSample(path, true); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("overwritten sample: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	c, err := Load(path)
	want := Default()
	want.DataDir = filepath.Join(dir, want.DataDir) // relative to the file's folder
	if err != nil || c != want {
		t.Errorf("sample does not load to the defaults: %v", err)
	}
}

func TestLoadResolvesPathsFromTheFilesFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "parley.toml")
	const file = `data_dir = "data"
[smtp]
lmtp_listen = "unix:run/lmtp.sock"
[imap]
cert_file = "tls/cert.pem"
key_file = "/srv/tls/key.pem"
[outbound]
outbox = "../outbox"
dkim_ed25519_key = "keys/ed.pem"
[tls]
cert_file = "tls/cert.pem"
key_file = "/srv/tls/key.pem"
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, got, want string }{
		{"data_dir", c.DataDir, filepath.Join(dir, "data")},
		{"smtp.lmtp_listen", c.SMTP.LMTPListen, "unix:" + filepath.Join(dir, "run", "lmtp.sock")},
		{"imap.cert_file", c.IMAP.CertFile, filepath.Join(dir, "tls", "cert.pem")},
		{"imap.key_file", c.IMAP.KeyFile, "/srv/tls/key.pem"},
		{"tls.cert_file", c.TLS.CertFile, filepath.Join(dir, "tls", "cert.pem")},
		{"tls.key_file", c.TLS.KeyFile, "/srv/tls/key.pem"},
		{"outbound.dkim_ed25519_key", c.Outbound.DKIMEd25519Key, filepath.Join(dir, "keys", "ed.pem")},
		{"outbound.outbox", c.Outbound.Outbox, filepath.Join(filepath.Dir(dir), "outbox")},
		{"outbound.dkim_key (empty: derived later)", c.Outbound.DKIMKey, ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, tc.got, tc.want)
		}
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "data", "keys", "dkim.pem"); c.Outbound.DKIMKey != want {
		t.Errorf("derived dkim_key %q, want %q under the resolved data_dir", c.Outbound.DKIMKey, want)
	}
	if d, err := Load(""); err != nil || d.DataDir != Default().DataDir {
		t.Errorf("without a file data_dir = %q (%v), want the default relative to the current folder", d.DataDir, err)
	}
}

func TestWorkingDaysSkipWeekends(t *testing.T) {
	var c Clock
	if err := c.UnmarshalText([]byte("20wd")); err != nil || c.WorkingDays != 20 {
		t.Fatalf("%+v %v", c, err)
	}
	fri := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC) // a Friday
	if got := (Clock{WorkingDays: 1}).From(fri); got.Weekday() != time.Monday || got.Day() != 23 {
		t.Errorf("1wd from Friday = %v", got)
	}
	if got := c.From(fri); !got.Equal(fri.AddDate(0, 0, 28)) {
		t.Errorf("20wd from Friday = %v, want four weeks later", got)
	}
	if err := c.UnmarshalText([]byte("3s")); err != nil || c.Duration != 3*time.Second {
		t.Errorf("3s: %+v %v", c, err)
	}
	for _, bad := range []string{"0wd", "xwd", "soon"} {
		if err := c.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAmounts(t *testing.T) {
	for in, want := range map[string]Amount{"25": 2500, "25.00": 2500, "49,95": 4995, "1,234.56": 123456, "1.234,56": 123456, "0.5": 50} {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAmount("lots"); err == nil {
		t.Error("non-number accepted")
	}
}

func TestOutboundDelivery(t *testing.T) {
	for _, c := range []struct {
		delivery, smarthost, mode, problem string
	}{
		{"", "", "maildir", ""}, // the no-config default
		{"", "relay.example.com:587", "smarthost", ""},
		{"mx", "", "mx", ""},
		{"smarthost", "", "", "needs outbound.smarthost"},
		{"mx", "relay.example.com:587", "", "clear smarthost"},
		{"maildir", "relay.example.com:587", "", "clear smarthost"},
		{"direct", "", "", "outbound.delivery"},
	} {
		cfg := Default()
		cfg.Outbound.Delivery, cfg.Outbound.Smarthost, cfg.Outbound.TLS = c.delivery, c.smarthost, "starttls"
		err := cfg.Resolve()
		switch {
		case c.problem == "" && (err != nil || cfg.Outbound.Delivery != c.mode):
			t.Errorf("delivery %q smarthost %q: %v, mode %q, want %q", c.delivery, c.smarthost, err, cfg.Outbound.Delivery, c.mode)
		case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
			t.Errorf("delivery %q smarthost %q: %v, want an error saying %q", c.delivery, c.smarthost, err, c.problem)
		}
	}
	cfg := Default()
	cfg.Outbound.MXPort, cfg.Outbound.MXDomainConcurrency = 0, 0
	if err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "mx_port") || !strings.Contains(err.Error(), "mx_domain_concurrency") {
		t.Errorf("bad mx_port and mx_domain_concurrency: %v", err)
	}
	if d := Default().Outbound; d.MXPort != 25 || d.MXDomainConcurrency != 4 {
		t.Errorf("mx defaults %d %d", d.MXPort, d.MXDomainConcurrency)
	}
}

func TestClosedFolders(t *testing.T) {
	if n := Default().IMAP.ClosedFolders; n != 300 {
		t.Errorf("default imap.closed_folders %d, want 300", n)
	}
	for _, n := range []int{0, -1, MaxClosedFolders + 1} {
		cfg := Default()
		cfg.IMAP.ClosedFolders = n
		if err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "imap.closed_folders") {
			t.Errorf("closed_folders %d: %v, want an error naming imap.closed_folders", n, err)
		}
	}
	cfg := Default()
	cfg.IMAP.ClosedFolders = MaxClosedFolders
	if err := cfg.Resolve(); err != nil {
		t.Errorf("closed_folders %d: %v", MaxClosedFolders, err)
	}
}
