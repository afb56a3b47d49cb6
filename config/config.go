// Package config owns Parley's configuration file: the TOML format, the embedded
// defaults that let `parley serve` run with no file at all, validation, and the
// commented sample that `parley init` writes.
//
// Durations are strings in Go syntax ("72h", "3s"); working-day clocks also take
// a count of working days ("20wd"). Every limit has a finite default: nothing is
// unlimited.
//
// Which package takes which section is in docs/architecture.md.
package config

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed sample.toml
var sample string

// Sample returns the commented sample configuration; its values are the defaults.
func Sample() string { return sample }

// Config is the whole configuration of one Parley daemon.
type Config struct {
	Domain  string `toml:"domain"`
	DataDir string `toml:"data_dir"`
	// DefaultLang is the language used for a party whose language is unknown.
	DefaultLang string `toml:"default_lang"`
	// Hostname is announced in SMTP greetings and Message-IDs.
	Hostname string `toml:"hostname"`
	// Timezone is where the dates in mails are shown (an IANA name).
	Timezone string `toml:"timezone"`

	SMTP        SMTP        `toml:"smtp"`
	IMAP        IMAP        `toml:"imap"`
	Submission  Submission  `toml:"submission"`
	Outbound    Outbound    `toml:"outbound"`
	Procedure   Procedure   `toml:"procedure"`
	Evidence    Evidence    `toml:"evidence"`
	Auth        Auth        `toml:"auth"`
	Translation Translation `toml:"translation"`
	DNS         DNS         `toml:"dns"`
	TLS         TLS         `toml:"tls"`
	Metrics     Metrics     `toml:"metrics"`
}

// Metrics configures the HTTP listener for Prometheus, health checks and
// (on loopback only) pprof.
type Metrics struct {
	// Listen is host:port; empty turns the listener off.
	Listen string `toml:"listen"`
}

// DNS names the resolver every lookup uses: sender authentication, direct
// delivery (MX, MTA-STS) and `parley dns --check`.
type DNS struct {
	// Resolver is host:port of a DNS server, queried over UDP (TCP when a
	// reply is truncated); empty means the system's resolver.
	Resolver string `toml:"resolver"`

	// What `parley dns` tells to publish (RFC 7489, 8461, 8460).
	// DMARCPolicy is none, quarantine or reject; DMARCRUA is where aggregate
	// reports go (mailto: URI or address; empty asks for none).
	DMARCPolicy string `toml:"dmarc_policy"`
	DMARCRUA    string `toml:"dmarc_rua"`
	// TLSRPTRUA is where TLS reports go (mailto: or https: URI, or an
	// address); empty means postmaster@DOMAIN.
	TLSRPTRUA string `toml:"tlsrpt_rua"`
	// MTASTSMode is enforce, testing or none; MTASTSMaxAge how long senders
	// cache the policy.
	MTASTSMode   string   `toml:"mta_sts_mode"`
	MTASTSMaxAge Duration `toml:"mta_sts_max_age"`
}

// NewResolver returns the resolver DNS names: the system's when Resolver
// is empty, else Go's own stub resolver sending every query to Resolver
// (so tests can point it at a DNS server on loopback).
func (d DNS) NewResolver() *net.Resolver {
	if d.Resolver == "" {
		return net.DefaultResolver
	}
	server := d.Resolver
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, network, server)
		},
	}
}

// Translation configures machine translation between the parties.
type Translation struct {
	// Engine is "" (off), "apertium" (apertium-apy's HTTP API),
	// "libretranslate" or "deepl".
	Engine  string   `toml:"engine"`
	URL     string   `toml:"url"`
	APIKey  string   `toml:"api_key"`
	Timeout Duration `toml:"timeout"`
}

// SMTP configures the inbound listener.
type SMTP struct {
	Listen string `toml:"listen"`
	// LMTPListen serves LMTP (RFC 2033) for a local MTA: "host:port" or
	// "unix:/path"; empty is off.
	LMTPListen     string   `toml:"lmtp_listen"`
	MaxMessageSize Size     `toml:"max_message_size"`
	MaxRecipients  int      `toml:"max_recipients"`
	MaxLineLength  int      `toml:"max_line_length"`
	MaxHeaderSize  Size     `toml:"max_header_size"`
	ReadTimeout    Duration `toml:"read_timeout"`
	WriteTimeout   Duration `toml:"write_timeout"`
	// DataTimeout bounds the whole DATA transfer, against clients trickling bytes.
	DataTimeout    Duration `toml:"data_timeout"`
	MaxConnections int      `toml:"max_connections"`
	// MaxSession is a session's whole lifetime, against clients that keep
	// one alive a byte or a NOOP at a time.
	MaxSession Duration `toml:"max_session"`
	// MaxIdleCommands bounds the commands without a delivered message
	// (NOOP, RSET, VRFY, refused MAIL ...), beyond one transaction's worth.
	MaxIdleCommands int `toml:"max_idle_commands"`
	// MinFreeSpace is the room the data folder keeps: below it a new
	// transaction gets 452 4.3.1, so every accepted message has room for
	// its relays; 0 means four times max_message_size.
	MinFreeSpace Size `toml:"min_free_space"`
}

// MaxClosedFolders bounds [imap] closed_folders: the IMAP index keeps the
// listed closed cases in memory, and mail clients list every folder.
const MaxClosedFolders = 10000

// IMAP configures the mediators' shared mailbox.
type IMAP struct {
	// Listen is host:port for IMAP with STARTTLS; empty turns IMAP off.
	Listen string `toml:"listen"`
	// TLSListen is host:port for implicit TLS (port 993 role); empty is off.
	TLSListen string `toml:"tls_listen"`
	// CertFile and KeyFile are the older place of [tls] cert_file and
	// key_file, still read when [tls] names none (Config.CertFiles).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ClosedFolders is how many closed case folders LIST shows, the most
	// recently closed; older ones open by name (Closed/ID).
	ClosedFolders int `toml:"closed_folders"`
}

// Submission configures the SMTP submission listener for mediators.
type Submission struct {
	// Listen is host:port; empty turns submission off.
	Listen string `toml:"listen"`
}

// Outbound configures the delivery queue.
type Outbound struct {
	// Smarthost is host:port of the relay all mail goes through. Empty means
	// mail is written to the Outbox Maildir instead (development default),
	// or delivered to the recipients' MX hosts with Delivery "mx".
	Smarthost string `toml:"smarthost"`
	// Delivery is "smarthost", "maildir" or "mx" (direct to each recipient
	// domain's MX hosts, opportunistic STARTTLS, MTA-STS enforced). Empty
	// derives it as before: "smarthost" when Smarthost is set, else "maildir".
	Delivery string `toml:"delivery"`
	// MXPort is the port direct delivery connects to (25; tests use a sink).
	MXPort int `toml:"mx_port"`
	// MXDomainConcurrency bounds parallel direct deliveries to one recipient domain.
	MXDomainConcurrency int `toml:"mx_domain_concurrency"`
	// TLS is "none", "starttls" (required) or "opportunistic", towards the
	// smarthost; direct delivery always tries STARTTLS and follows MTA-STS.
	TLS        string   `toml:"tls"`
	Username   string   `toml:"username"`
	Password   string   `toml:"password"`
	Outbox     string   `toml:"outbox"`
	GiveUp     Duration `toml:"give_up"`
	MinBackoff Duration `toml:"min_backoff"`
	MaxBackoff Duration `toml:"max_backoff"`
	// Concurrency is the number of parallel deliveries (and smarthost connections).
	Concurrency int `toml:"concurrency"`
	// MaxInDoubt bounds the deliveries between their final dot and the
	// logged reply, the only ones a crash can send twice; 0: no bound.
	MaxInDoubt int      `toml:"max_in_doubt"`
	Timeout    Duration `toml:"timeout"`
	// DKIM is "auto" (sign unless the domain is a reserved test domain:
	// .localhost, .test, .example, .invalid), "on" or "off"; true and false
	// are read as on and off.
	DKIM Switch `toml:"dkim"`
	// DKIMSelector and DKIMKey are the RSA-2048 key (as before the Ed25519
	// key was added): SELECTOR._domainkey.DOMAIN and its PEM file; empty
	// means "parley-rsa" and DATA_DIR/keys/dkim.pem.
	DKIMSelector string `toml:"dkim_selector"`
	DKIMKey      string `toml:"dkim_key"`
	// DKIMEd25519Selector and DKIMEd25519Key are the Ed25519 key (RFC 8463);
	// empty means "parley-ed25519" and DATA_DIR/keys/dkim-ed25519.pem.
	DKIMEd25519Selector string `toml:"dkim_ed25519_selector"`
	DKIMEd25519Key      string `toml:"dkim_ed25519_key"`
}

// Default DKIM selectors: fixed names that say the algorithm, so serve and
// `parley dns` agree without any state, and a zone shows which is which.
const (
	DefaultRSASelector     = "parley-rsa"
	DefaultEd25519Selector = "parley-ed25519"
)

// Switch is "auto", "on" or "off"; a TOML boolean is read as on or off.
type Switch string

// UnmarshalTOML accepts a boolean or one of the three words.
func (s *Switch) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*s = "off"
		if v {
			*s = "on"
		}
		return nil
	case string:
		switch v {
		case "auto", "on", "off":
			*s = Switch(v)
			return nil
		}
	}
	return fmt.Errorf("%v: want \"auto\", \"on\", \"off\", true or false", v)
}

// DKIMOn says whether outbound mail is signed: per the dkim switch, and for
// "auto" unless reserved (the domain is one for tests, where no receiver
// could look the key up).
func (o Outbound) DKIMOn(reserved bool) bool {
	return o.DKIM == "on" || o.DKIM != "off" && !reserved
}

// Mode is how mail leaves: Delivery, or when empty "smarthost" if a
// smarthost is set and "maildir" otherwise (configs older than Delivery).
func (o Outbound) Mode() string {
	switch {
	case o.Delivery != "":
		return o.Delivery
	case o.Smarthost != "":
		return "smarthost"
	}
	return "maildir"
}

// Auth configures sender authentication of party mail.
type Auth struct {
	// DMARC is "enforce" (mail failing its domain's quarantine or reject
	// policy does not speak for a party), "record" (noted only) or "off".
	DMARC string `toml:"dmarc"`
}

// Evidence limits what relays carry and what parsing may use.
type Evidence struct {
	// Attachments beyond these limits, and executables (by sniffed type), are
	// kept as evidence but not forwarded; the reader gets name, size and SHA-256.
	MaxAttachments    int  `toml:"max_attachments"`
	MaxAttachmentSize Size `toml:"max_attachment_size"`
	MaxRelaySize      Size `toml:"max_relay_size"`
	// LargeMessage is the size from which messages are parsed one at a time,
	// which bounds the memory parsing can take.
	LargeMessage Size `toml:"large_message"`
}

// Procedure holds the dispute procedure's clocks, amounts and the bodies it
// refers to (defaults in sample.toml, each with its source: the
// WebwinkelKeur procedure, DigiDispuut's arbitration, Directive 2013/11/EU and
// Directive (EU) 2025/2647).
type Procedure struct {
	// ServiceName is the sender name of Parley's own notices ("NAME [CASE]").
	ServiceName string `toml:"service_name"`
	// TraderWindow is the trader's first window to answer.
	TraderWindow Clock `toml:"trader_window"`
	// TraderReminder is how long before the window ends the trader is
	// reminded, unless the trader already wrote in the window.
	TraderReminder Clock `toml:"trader_reminder"`
	// ChoiceWindow is how long the consumer has to choose after the window.
	ChoiceWindow Clock `toml:"choice_window"`
	// MaxExtensions is how often the consumer may give the trader one more window.
	MaxExtensions int `toml:"max_extensions"`
	// MediationReply is the trader's time to answer in mediation; silence is refusal.
	MediationReply Clock `toml:"mediation_reply"`
	// MediationMax ends a mediation this long after the complaint was
	// complete; the mediator may extend it once.
	MediationMax Clock `toml:"mediation_max"`
	// MediatorIdle reminds the mediator when nothing happened this long
	// after the trader's answer.
	MediatorIdle Clock `toml:"mediator_idle"`
	// ProposalWindow is the parties' time to answer a settlement proposal;
	// silence is rejection.
	ProposalWindow Clock `toml:"proposal_window"`
	// IncompleteIntake closes an intake that never became complete.
	IncompleteIntake Clock `toml:"incomplete_intake"`
	// Retention is how long personal data is kept after closing.
	Retention Clock `toml:"retention"`
	// Arbitration: the claim's range, the consumer's fee, and the body a
	// case is referred to. Without ArbitrationAddress nothing is referred.
	ArbitrationMin     Amount `toml:"arbitration_min"`
	ArbitrationMax     Amount `toml:"arbitration_max"`
	ArbitrationFee     Amount `toml:"arbitration_fee"`
	Currency           string `toml:"currency"`
	ArbitrationBody    string `toml:"arbitration_body"`
	ArbitrationAddress string `toml:"arbitration_address"`
	ArbitrationURL     string `toml:"arbitration_url"`
	// ArbitrationLang is the language of the cover letter; "" is default_lang.
	ArbitrationLang string `toml:"arbitration_lang"`
	// ArbitrationKind is what the body gives: "arbitration" (an arbitral
	// award) or "binding_advice" (bindend advies, as DigiDispuut and the
	// Dutch Geschillencommissie do); the parties are told the one it is.
	ArbitrationKind string `toml:"arbitration_kind"`
	// MaxComplaintAge is the most a complaint may have aged, counted from
	// when the consumer first complained to the trader, for mediation.
	MaxComplaintAge Duration `toml:"max_complaint_age"`
	// MoreHelp is where a consumer may turn when a case ends without agreement.
	MoreHelp string `toml:"more_help"`
	// Mediators is "round-robin" (assign in turn) or "take" (wait for #take).
	Mediators string `toml:"mediators"`
	// Workers is the number of goroutines handling accepted mail; one case's
	// mail always goes to the same worker, in order.
	Workers int `toml:"workers"`
}

// Referral reports whether cases can be referred to an arbitration body.
func (p Procedure) Referral() bool { return p.ArbitrationAddress != "" }

// Default returns the embedded defaults: loopback ports, ./parley-data, disputes.localhost.
func Default() Config {
	var c Config
	if _, err := toml.Decode(sample, &c); err != nil {
		// The sample is embedded and covered by a test; failing here is a build defect.
		panic(fmt.Sprintf("embedded sample config: %v", err))
	}
	return c
}

// Load reads path on top of the defaults. An empty path returns the defaults.
// Relative paths from a file (data_dir, outbox, key and certificate files,
// a unix: LMTP socket), its defaults included, are made relative to the
// file's folder, so the file means the same whatever the current folder.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("read config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	dir := filepath.Dir(path)
	for _, p := range c.paths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if sock, ok := strings.CutPrefix(c.SMTP.LMTPListen, "unix:"); ok && !filepath.IsAbs(sock) {
		c.SMTP.LMTPListen = "unix:" + filepath.Join(dir, sock)
	}
	return c, nil
}

// paths are the keys that name files or folders; a new one gets a line here.
func (c *Config) paths() []*string {
	return []*string{
		&c.DataDir,
		&c.Outbound.Outbox,
		&c.Outbound.DKIMKey,
		&c.Outbound.DKIMEd25519Key,
		&c.IMAP.CertFile,
		&c.IMAP.KeyFile,
		&c.TLS.CertFile,
		&c.TLS.KeyFile,
	}
}

// Resolve fills derived paths (outbox under the data folder) and validates.
func (c *Config) Resolve() error {
	if c.Outbound.Outbox == "" {
		c.Outbound.Outbox = filepath.Join(c.DataDir, "outbox")
	}
	if c.Hostname == "" {
		c.Hostname = c.Domain
	}
	if c.Outbound.DKIMKey == "" {
		c.Outbound.DKIMKey = filepath.Join(c.DataDir, "keys", "dkim.pem")
	}
	if c.Outbound.DKIMEd25519Key == "" {
		c.Outbound.DKIMEd25519Key = filepath.Join(c.DataDir, "keys", "dkim-ed25519.pem")
	}
	if c.Outbound.DKIMSelector == "" {
		c.Outbound.DKIMSelector = DefaultRSASelector
	}
	if c.Outbound.DKIMEd25519Selector == "" {
		c.Outbound.DKIMEd25519Selector = DefaultEd25519Selector
	}
	c.Outbound.Delivery = c.Outbound.Mode()
	return c.Validate()
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DNS.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Resolver); err != nil {
			bad("dns.resolver %q: want host:port", c.DNS.Resolver)
		}
	}
	switch c.DNS.DMARCPolicy {
	case "none", "quarantine", "reject":
	default:
		bad("dns.dmarc_policy %q: want none, quarantine or reject", c.DNS.DMARCPolicy)
	}
	switch c.DNS.MTASTSMode {
	case "enforce", "testing", "none":
	default:
		bad("dns.mta_sts_mode %q: want enforce, testing or none", c.DNS.MTASTSMode)
	}
	if age := c.DNS.MTASTSMaxAge.D(); age < time.Hour || age > 31557600*time.Second {
		bad("dns.mta_sts_max_age %s: want 1h to 365d (RFC 8461 3.2), a week or more once it works", age)
	}
	for _, r := range []struct{ key, uri string }{{"dmarc_rua", c.DNS.DMARCRUA}, {"tlsrpt_rua", c.DNS.TLSRPTRUA}} {
		if strings.ContainsAny(r.uri, " ;,!\"\r\n") || r.uri != "" && !strings.Contains(r.uri, "@") && !strings.HasPrefix(r.uri, "https://") {
			bad("dns.%s %q: want one address (reports@example.org) or mailto: URI", r.key, r.uri)
		}
	}
	if strings.HasPrefix(c.DNS.DMARCRUA, "https:") {
		bad("dns.dmarc_rua %q: DMARC reports go by mail: want an address or mailto: URI", c.DNS.DMARCRUA)
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "@ \t/") {
		bad("domain %q: must be a bare domain name", c.Domain)
	}
	if c.DataDir == "" {
		bad("data_dir: must be set")
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		bad("timezone %q: want an IANA time zone such as Europe/Brussels", c.Timezone)
	}
	if _, _, err := net.SplitHostPort(c.SMTP.Listen); err != nil {
		bad("smtp.listen %q: %v", c.SMTP.Listen, err)
	}
	for _, l := range []struct{ key, addr string }{{"imap.listen", c.IMAP.Listen}, {"imap.tls_listen", c.IMAP.TLSListen}, {"submission.listen", c.Submission.Listen}, {"metrics.listen", c.Metrics.Listen}} {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad("%s %q: %v", l.key, l.addr, err)
		}
	}
	if (c.IMAP.CertFile == "") != (c.IMAP.KeyFile == "") {
		bad("imap: set both cert_file and key_file, or neither (a self-signed certificate is made in the data folder)")
	}
	if c.IMAP.ClosedFolders < 1 || c.IMAP.ClosedFolders > MaxClosedFolders {
		bad("imap.closed_folders %d: must be 1..%d (older closed cases stay reachable as Closed/ID)", c.IMAP.ClosedFolders, MaxClosedFolders)
	}
	c.validateTLS(bad)
	if c.SMTP.MaxMessageSize <= 0 || c.SMTP.MaxRecipients <= 0 || c.SMTP.MaxLineLength <= 0 || c.SMTP.MaxHeaderSize <= 0 || c.SMTP.MaxConnections <= 0 {
		bad("smtp: max_message_size, max_recipients, max_line_length, max_header_size and max_connections must be positive")
	}
	if c.SMTP.MaxSession <= 0 || c.SMTP.MaxIdleCommands <= 0 {
		bad("smtp: max_session and max_idle_commands must be positive")
	}
	if c.SMTP.ReadTimeout <= 0 || c.SMTP.WriteTimeout <= 0 || c.SMTP.DataTimeout <= 0 {
		bad("smtp: read_timeout, write_timeout and data_timeout must be positive")
	}
	if c.Outbound.Smarthost != "" {
		if _, _, err := net.SplitHostPort(c.Outbound.Smarthost); err != nil {
			bad("outbound.smarthost %q: %v", c.Outbound.Smarthost, err)
		}
	}
	switch mode := c.Outbound.Mode(); {
	case mode != "smarthost" && mode != "maildir" && mode != "mx":
		bad("outbound.delivery %q: want smarthost, maildir or mx", c.Outbound.Delivery)
	case mode == "smarthost" && c.Outbound.Smarthost == "":
		bad("outbound: delivery = \"smarthost\" needs outbound.smarthost (host:port)")
	case mode != "smarthost" && c.Outbound.Smarthost != "":
		bad("outbound: smarthost %q is set but delivery = %q; clear smarthost or set delivery = \"smarthost\"", c.Outbound.Smarthost, mode)
	}
	if c.Outbound.MXPort < 1 || c.Outbound.MXPort > 65535 {
		bad("outbound.mx_port %d: must be 1..65535", c.Outbound.MXPort)
	}
	if c.Outbound.MXDomainConcurrency < 1 || c.Outbound.MXDomainConcurrency > 256 {
		bad("outbound.mx_domain_concurrency %d: must be 1..256", c.Outbound.MXDomainConcurrency)
	}
	switch c.Outbound.TLS {
	case "none", "starttls", "opportunistic":
	default:
		bad("outbound.tls %q: must be none, starttls or opportunistic", c.Outbound.TLS)
	}
	if c.Outbound.Username != "" && c.Outbound.TLS == "none" && !isLoopback(c.Outbound.Smarthost) {
		bad("outbound: AUTH needs tls = \"starttls\" unless the smarthost is on loopback")
	}
	if c.Outbound.GiveUp <= 0 || c.Outbound.MinBackoff <= 0 || c.Outbound.MaxBackoff < c.Outbound.MinBackoff {
		bad("outbound: give_up and min_backoff must be positive and max_backoff >= min_backoff")
	}
	if c.Outbound.MaxInDoubt < 0 {
		bad("outbound.max_in_doubt %d: must be 0 (no bound) or more", c.Outbound.MaxInDoubt)
	}
	if c.Outbound.Concurrency <= 0 || c.Outbound.Concurrency > 256 {
		bad("outbound.concurrency %d: must be 1..256", c.Outbound.Concurrency)
	}
	if c.Outbound.Timeout <= 0 {
		bad("outbound.timeout: must be positive")
	}
	switch c.Outbound.DKIM {
	case "", "auto", "on", "off":
	default:
		bad("outbound.dkim %q: want auto, on or off", c.Outbound.DKIM)
	}
	for _, s := range []struct{ key, sel string }{{"dkim_selector", c.Outbound.DKIMSelector}, {"dkim_ed25519_selector", c.Outbound.DKIMEd25519Selector}} {
		if s.sel != "" && !dnsLabels(s.sel) {
			bad("outbound.%s %q: want DNS labels (letters, digits, '-', dots between), such as %q", s.key, s.sel, DefaultRSASelector)
		}
	}
	if c.Outbound.DKIMSelector != "" && c.Outbound.DKIMSelector == c.Outbound.DKIMEd25519Selector {
		bad("outbound: dkim_selector and dkim_ed25519_selector must differ (one TXT record each)")
	}
	if c.Evidence.MaxAttachments < 0 || c.Evidence.MaxAttachmentSize <= 0 || c.Evidence.MaxRelaySize <= 0 || c.Evidence.LargeMessage <= 0 {
		bad("evidence: limits must be positive")
	}
	switch c.Auth.DMARC {
	case "enforce", "record", "off":
	default:
		bad("auth.dmarc %q: want enforce, record or off", c.Auth.DMARC)
	}
	switch t := c.Translation; t.Engine {
	case "":
	case "apertium", "libretranslate":
		if !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
			bad("translation.url %q: %s needs the server's http(s) URL", t.URL, t.Engine)
		}
	case "deepl":
		if t.APIKey == "" {
			bad("translation: deepl needs api_key")
		}
	default:
		bad("translation.engine %q: want apertium, libretranslate, deepl or empty", t.Engine)
	}
	if c.Translation.Timeout <= 0 {
		bad("translation.timeout: must be positive")
	}
	p := c.Procedure
	for name, clk := range map[string]Clock{"trader_window": p.TraderWindow, "choice_window": p.ChoiceWindow,
		"mediation_reply": p.MediationReply, "mediation_max": p.MediationMax, "mediator_idle": p.MediatorIdle,
		"proposal_window": p.ProposalWindow, "incomplete_intake": p.IncompleteIntake, "retention": p.Retention} {
		if !clk.Positive() {
			bad("procedure.%s: must be a positive duration or working-day count", name)
		}
	}
	if p.MaxExtensions < 0 || p.MaxComplaintAge <= 0 {
		bad("procedure: max_extensions must be >= 0 and max_complaint_age positive")
	}
	if p.ArbitrationMin > p.ArbitrationMax {
		bad("procedure: arbitration_min %s is above arbitration_max %s", p.ArbitrationMin, p.ArbitrationMax)
	}
	if len(p.Currency) != 3 {
		bad("procedure.currency %q: want an ISO 4217 code like EUR", p.Currency)
	}
	if strings.TrimSpace(p.ServiceName) == "" || strings.ContainsAny(p.ServiceName, "\r\n<>\"") {
		bad("procedure.service_name %q: want a plain name such as \"Acme Disputes desk\"", p.ServiceName)
	}
	if p.ArbitrationAddress != "" {
		if at := strings.LastIndexByte(p.ArbitrationAddress, '@'); at < 1 || at == len(p.ArbitrationAddress)-1 || strings.ContainsAny(p.ArbitrationAddress, " <>\r\n,;") {
			bad("procedure.arbitration_address %q: want a bare address like claims@body.example", p.ArbitrationAddress)
		}
		if strings.TrimSpace(p.ArbitrationBody) == "" || !strings.HasPrefix(p.ArbitrationURL, "https://") && !strings.HasPrefix(p.ArbitrationURL, "http://") {
			bad("procedure: with arbitration_address set, arbitration_body (its name) and arbitration_url (where the consumer files the claim, http(s)://) are needed too")
		}
	}
	if p.ArbitrationKind != "" && p.ArbitrationKind != "arbitration" && p.ArbitrationKind != "binding_advice" {
		bad("procedure.arbitration_kind %q: want arbitration or binding_advice", p.ArbitrationKind)
	}
	if p.ArbitrationLang != "" && (len(p.ArbitrationLang) != 2 || strings.ToLower(p.ArbitrationLang) != p.ArbitrationLang) {
		bad("procedure.arbitration_lang %q: want a two-letter language code like nl", p.ArbitrationLang)
	}
	if strings.ContainsAny(p.MoreHelp, "\r\n") {
		bad("procedure.more_help: one line of text")
	}
	if p.Mediators != "round-robin" && p.Mediators != "take" {
		bad("procedure.mediators %q: want round-robin or take", p.Mediators)
	}
	if c.Procedure.Workers <= 0 || c.Procedure.Workers > 256 {
		bad("procedure.workers %d: must be 1..256", c.Procedure.Workers)
	}
	return errors.Join(errs...)
}

// dnsLabels reports whether s is one or more DNS labels (RFC 1035 2.3.1,
// with digits first allowed, RFC 1123).
func dnsLabels(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WriteSample writes the commented sample to path (mode 0600). An existing
// file is an error wrapping os.ErrExist, unless overwrite is set.
func WriteSample(path string, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return fmt.Errorf("write sample config: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write sample config %s: %w", path, err)
	}
	if _, err := f.WriteString(sample); err != nil {
		f.Close()
		return fmt.Errorf("write sample config %s: %w", path, err)
	}
	return f.Close()
}

// Duration is a time.Duration written as a Go duration string. A count of
// working days ("20wd") is kept in WorkingDays with Duration zero.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText parses "72h", "3s", "5d" (days) or "7d12h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ParseDuration accepts Go durations plus a leading day count ("5d", "7d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, 'd'); i > 0 && !strings.HasPrefix(s[i:], "d ") {
		if days, err := strconv.Atoi(s[:i]); err == nil {
			rest := s[i+1:]
			var extra time.Duration
			if rest != "" {
				if extra, err = time.ParseDuration(rest); err != nil {
					return 0, fmt.Errorf("duration %q: %w", s, err)
				}
			}
			return time.Duration(days)*24*time.Hour + extra, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a Go duration like \"72h\" or days like \"5d\"", s)
	}
	return v, nil
}

// Size is a byte count written as "25MiB", "512KiB" or a plain number.
type Size int64

// UnmarshalText parses a size with an optional KiB/MiB/GiB suffix.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("size %q: want a byte count like 26214400 or \"25MiB\"", string(b))
	}
	*s = Size(n * mult)
	return nil
}
