package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tool finds prog, failing under CI (which installs it, .ci/run) and
// skipping elsewhere.
func tool(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (Debian: apt-get install %s)", prog, pkg)
		}
		t.Skipf("%s is not installed (Debian: apt-get install %s); CI installs it", prog, pkg)
	}
	return p
}

// smtplibScript sends one complaint over STARTTLS, verifying the server's
// certificate against the self-signed one in the data folder (it names
// 127.0.0.1), and prints the version and cipher Python negotiated.
const smtplibScript = `
import smtplib, ssl, sys
addr, cafile, maxver, sender, rcpt, marker = sys.argv[1:7]
host, port = addr.rsplit(":", 1)
ctx = ssl.create_default_context(cafile=cafile)
if maxver == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
msg = ("From: Consumer <%s>\r\nTo: Acme <%s>\r\nSubject: Order 4711 never arrived\r\n"
       "Message-ID: <%s@test.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
       "I paid for order 4711 and it never came. %s\r\n") % (sender, rcpt, marker, marker)
with smtplib.SMTP(host, int(port), timeout=30) as s:
    s.ehlo("client.test")
    if not s.has_extn("starttls"):
        sys.exit("STARTTLS not offered")
    s.starttls(context=ctx)
    s.ehlo("client.test")
    s.sendmail(sender, [rcpt], msg.encode())
    print(s.sock.version(), s.sock.cipher()[0])
`

// tlsMessage waits for Parley's first answer to the complaint from
// consumer-MARKER@example.org and returns the complaint's row as
// `parley case show --json` shows it.
func tlsMessage(t *testing.T, e *env, marker string) messageJSON {
	t.Helper()
	answer := e.sink.WaitFor(20*time.Second, "an answer to the complaint", func(m *sinkMsg) bool {
		return m.To("consumer-"+marker+"@example.org") && m.CaseID() != ""
	})
	c := e.d.MustCase(answer.CaseID())
	if len(c.Messages) == 0 {
		t.Fatalf("case %s has no messages", c.ID)
	}
	return c.Messages[0]
}

func TestSTARTTLSOnPort25WithSmtplib(t *testing.T) {
	py := tool(t, "python3", "python3")
	e := newEnv(t)
	cafile := filepath.Join(e.d.dataDir, "tls", "cert.pem")
	for _, tc := range []struct{ maxver, want string }{{"1.3", "TLS 1.3"}, {"1.2", "TLS 1.2"}} {
		marker := "TLS-" + token()
		out, err := exec.Command(py, "-c", smtplibScript, e.d.smtpAddr, cafile, tc.maxver,
			"consumer-"+marker+"@example.org", intakeAddr, marker).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 smtplib over STARTTLS: %v\n%s", err, out)
		}
		fields := strings.Fields(string(out))
		if len(fields) != 2 {
			t.Fatalf("smtplib printed %q", out)
		}
		pyVersion, pyCipher := fields[0], fields[1]
		m := tlsMessage(t, e, marker)
		if !m.TLS || m.TLSVersion != tc.want || strings.ReplaceAll(pyVersion, "TLSv", "TLS ") != tc.want {
			t.Errorf("stored TLS=%v %q, Python negotiated %s; want %s on both sides", m.TLS, m.TLSVersion, pyVersion, tc.want)
		}
		// TLS 1.3 suites have one name everywhere; OpenSSL names the 1.2
		// ones its own way (ECDHE-ECDSA-AES128-GCM-SHA256).
		stored := m.TLSCipher
		if tc.want == "TLS 1.2" {
			stored = strings.NewReplacer("TLS_", "", "WITH_", "", "AES_128", "AES128", "AES_256", "AES256", "_", "-").Replace(stored)
		}
		if stored != pyCipher {
			t.Errorf("stored cipher %q, Python negotiated %q", m.TLSCipher, pyCipher)
		}
		t.Logf("smtplib %s %s; stored %s %s", pyVersion, pyCipher, m.TLSVersion, m.TLSCipher)
	}
	// The text form of case show names it too.
	cases, err := e.d.Cases()
	if err != nil || len(cases) == 0 {
		t.Fatalf("case list: %v %v", cases, err)
	}
	if out := string(e.d.MustAdmin("case", "show", cases[0].ID)); !strings.Contains(out, "TLS 1.") {
		t.Errorf("case show does not say the message came over TLS:\n%s", out)
	}
}

func TestSTARTTLSOnPort25WithSwaks(t *testing.T) {
	swaks := tool(t, "swaks", "swaks libnet-ssleay-perl")
	e := newEnv(t)
	marker := "SWAKS-" + token()
	out, err := exec.Command(swaks, "--server", e.d.smtpAddr, "--tls", "--ehlo", "client.test",
		"--from", "consumer-"+marker+"@example.org", "--to", intakeAddr,
		"--header", "Subject: Order 4711 never arrived", "--header", "To: Acme <"+intakeAddr+">",
		"--body", "I paid for order 4711 and it never came. "+marker).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks --tls: %v\n%s", err, out)
	}
	// swaks says: "=== TLS started with cipher TLSv1.3:TLS_AES_256_GCM_SHA384:256"
	got := regexp.MustCompile(`TLS started with cipher (TLSv[0-9.]+):([A-Z0-9_-]+)`).FindStringSubmatch(string(out))
	if got == nil {
		t.Fatalf("swaks did not start TLS:\n%s", out)
	}
	m := tlsMessage(t, e, marker)
	if !m.TLS || m.TLSVersion != strings.ReplaceAll(got[1], "TLSv", "TLS ") || (got[1] == "TLSv1.3" && m.TLSCipher != got[2]) {
		t.Errorf("stored TLS=%v %q %q; swaks negotiated %s %s", m.TLS, m.TLSVersion, m.TLSCipher, got[1], got[2])
	}
	t.Logf("swaks %s %s; stored %s %s", got[1], got[2], m.TLSVersion, m.TLSCipher)
}
