package config

import (
	"net"
	"net/url"
	"strings"
)

// TLS is the one certificate of every listener: STARTTLS on the SMTP port,
// IMAP (STARTTLS and implicit TLS) and submission.
type TLS struct {
	// CertFile and KeyFile are a PEM certificate chain and its key; both
	// empty with ACME off means a self-signed pair in DATA_DIR/tls.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ACME gets certificates for Hostname from ACMEDirectory (RFC 8555),
	// cached in DATA_DIR/acme and renewed by themselves.
	ACME          bool   `toml:"acme"`
	ACMEEmail     string `toml:"acme_email"`
	ACMEDirectory string `toml:"acme_directory"`
	// ACMETLSListen answers TLS-ALPN-01 (the CA connects to port 443);
	// ACMEHTTPListen answers HTTP-01 (port 80). ACME needs one of them.
	ACMETLSListen  string `toml:"acme_tls_listen"`
	ACMEHTTPListen string `toml:"acme_http_listen"`
}

// CertFiles is the certificate and key to load: [tls], else the older
// [imap] cert_file and key_file (Validate refuses the two when they differ).
func (c Config) CertFiles() (cert, key string) {
	if c.TLS.CertFile != "" {
		return c.TLS.CertFile, c.TLS.KeyFile
	}
	return c.IMAP.CertFile, c.IMAP.KeyFile
}

// validateTLS reports the problems of the [tls] section.
func (c *Config) validateTLS(bad func(format string, args ...any)) {
	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls: set both cert_file and key_file, or neither")
	}
	if t.CertFile != "" && c.IMAP.CertFile != "" && (t.CertFile != c.IMAP.CertFile || t.KeyFile != c.IMAP.KeyFile) {
		bad("tls.cert_file and imap.cert_file name different certificates; [tls] serves every listener now: keep it and remove cert_file and key_file from [imap]")
	}
	if !t.ACME {
		if t.ACMETLSListen != "" || t.ACMEHTTPListen != "" {
			bad("tls: acme_tls_listen and acme_http_listen answer ACME challenges; set acme = true or leave them empty")
		}
		return
	}
	if cert, _ := c.CertFiles(); cert != "" {
		bad("tls: acme = true and cert_file %q both set; choose one", cert)
	}
	if !publicName(c.Hostname) {
		bad("tls.acme: hostname %q cannot get a certificate from a public CA; set hostname to the name your MX record points to", c.Hostname)
	}
	if u, err := url.Parse(t.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("tls.acme_directory %q: want the https:// URL of an ACME directory", t.ACMEDirectory)
	}
	if t.ACMEEmail != "" && (!strings.Contains(t.ACMEEmail, "@") || strings.ContainsAny(t.ACMEEmail, " \t<>")) {
		bad("tls.acme_email %q: want a plain address such as postmaster@example.org", t.ACMEEmail)
	}
	if t.ACMETLSListen == "" && t.ACMEHTTPListen == "" {
		bad("tls.acme: set acme_tls_listen (the CA connects to port 443) or acme_http_listen (port 80), so the CA can check the host is yours")
	}
	for _, l := range []struct{ key, addr string }{{"tls.acme_tls_listen", t.ACMETLSListen}, {"tls.acme_http_listen", t.ACMEHTTPListen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad("%s %q: %v", l.key, l.addr, err)
		}
	}
}

// publicName reports whether name could be in a publicly trusted
// certificate: a dotted DNS name, not an address, not a reserved name
// (RFC 2606, RFC 6761).
func publicName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if net.ParseIP(name) != nil || !strings.Contains(name, ".") {
		return false
	}
	for _, tld := range []string{".localhost", ".test", ".example", ".invalid", ".local"} {
		if strings.HasSuffix(name, tld) {
			return false
		}
	}
	return true
}
