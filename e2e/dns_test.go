package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"parley/config"
	"parley/dnstest"
)

// TestDKIMAndDNSRecords: `parley dns` makes the keys before the first start
// and prints the records; served by a DNS server on loopback they verify
// both signatures on Parley's mail, and `parley dns --check` fails while a
// required record is missing and passes once the zone is complete.
func TestDKIMAndDNSRecords(t *testing.T) {
	zoneSrv := dnstest.Serve(t, "")
	s := newSink(t)
	s.Start()
	// disputes.localhost is a test domain: signing is off unless forced on.
	d := newDaemonWithConfig(t, s.addr, "dkim = \"on\"\n[dns]\nresolver = \""+zoneSrv.Addr+"\"\n")
	zone, code := runCLI(t, "dns", "--config", d.cfgPath, "--data", d.dataDir, "--domain", domain)
	if code != 0 || strings.Count(zone, "._domainkey."+domain+".") != 2 {
		t.Fatalf("parley dns: exit %d\n%s", code, zone)
	}
	for _, f := range []string{"dkim.pem", "dkim-ed25519.pem"} {
		if fi, err := os.Stat(filepath.Join(d.dataDir, "keys", f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key %s before the first start: %v %v", f, err, fi)
		}
	}
	again, _ := runCLI(t, "dns", "--config", d.cfgPath, "--data", d.dataDir, "--domain", domain)
	if again != zone {
		t.Errorf("a second parley dns printed other records:\n%s", again)
	}

	d.Start()
	d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "nl")
	e := &env{t: t, sink: s, d: d}
	oc := e.openCase("Jan Jansen", "jan.jansen@consumer.example")

	// mta-sts.DOMAIN is left out: its policy would be fetched on port 443.
	hosts := domain + ". 3600 IN A 127.0.0.1\n"
	if err := zoneSrv.Set(zone + hosts); err != nil {
		t.Fatal(err)
	}
	res := config.DNS{Resolver: zoneSrv.Addr}.NewResolver()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(oc.Notice.Raw), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return res.LookupTXT(context.Background(), name)
	}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("trader notice: %v, %d signatures, want 2:\n%s", err, len(vs), oc.Notice.Raw)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != domain {
			t.Errorf("signature of %s does not verify: %v", v.Domain, v.Err)
		}
	}

	out, code := runCLI(t, "dns", "--check", "--config", d.cfgPath, "--data", d.dataDir, "--domain", domain)
	if code != 0 || !strings.Contains(out, "missing  MTA-STS-policy") {
		t.Errorf("dns --check on the complete zone: exit %d\n%s", code, out)
	}
	var partial strings.Builder
	for _, line := range strings.SplitAfter(zone, "\n") {
		if !strings.HasPrefix(line, "_dmarc.") {
			partial.WriteString(line)
		}
	}
	if err := zoneSrv.Set(partial.String() + hosts); err != nil {
		t.Fatal(err)
	}
	out, code = runCLI(t, "dns", "--check", "--config", d.cfgPath, "--data", d.dataDir, "--domain", domain)
	if code != 1 || !strings.Contains(out, "missing  DMARC") || strings.Count("\n"+out, "\nok ") != 7 || !strings.Contains(out, "parley: dns --check") {
		t.Errorf("dns --check without DMARC: exit %d, want 1, DMARC missing and the rest ok:\n%s", code, out)
	}

	policy, code := runCLI(t, "dns", "--mta-sts-policy", "--config", d.cfgPath, "--data", d.dataDir, "--domain", domain)
	if code != 0 || policy != "version: STSv1\r\nmode: enforce\r\nmx: "+domain+"\r\nmax_age: 604800\r\n" {
		t.Errorf("mta-sts policy: exit %d %q", code, policy)
	}
}

// TestDNSOnTestDomain: with the defaults (disputes.localhost) DKIM is off:
// no keys are made and no DKIM records printed.
func TestDNSOnTestDomain(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, code := runCLI(t, "dns", "--data", data)
	if code != 0 || strings.Contains(out, "_domainkey") || !strings.Contains(out, "DKIM signing is off") ||
		!strings.Contains(out, "disputes.localhost.\t3600\tIN\tMX\t10 disputes.localhost.") {
		t.Errorf("parley dns on the default domain: exit %d\n%s", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "keys")); len(entries) != 0 {
		t.Errorf("keys made for a test domain: %v", entries)
	}
}
