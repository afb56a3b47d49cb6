package config

import (
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
	path := filepath.Join(t.TempDir(), "parley.toml")
	if err := WriteSample(path); err != nil {
		t.Fatal(err)
	}
	if err := WriteSample(path); err == nil {
		t.Error("WriteSample overwrote an existing file")
	}
	c, err := Load(path)
	if err != nil || c != Default() {
		t.Errorf("sample does not load to the defaults: %v", err)
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
