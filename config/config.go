// Package config owns Parley's configuration file: the TOML format, the embedded
// defaults that let `parley serve` run with no file at all, validation, and the
// commented sample that `parley init` writes.
//
// Durations are strings in Go syntax ("72h", "3s"); working-day clocks also take
// a count of working days ("20wd"). Every limit has a finite default: nothing is
// unlimited.
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

// IMAP configures the mediators' shared mailbox.
type IMAP struct {
	// Listen is host:port for IMAP with STARTTLS; empty turns IMAP off.
	Listen string `toml:"listen"`
	// TLSListen is host:port for implicit TLS (port 993 role); empty is off.
	TLSListen string `toml:"tls_listen"`
	// CertFile and KeyFile are a PEM certificate chain and key for IMAP and
	// submission; both empty means a self-signed pair in DATA_DIR/tls.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// Submission configures the SMTP submission listener for mediators.
type Submission struct {
	// Listen is host:port; empty turns submission off.
	Listen string `toml:"listen"`
}

// Outbound configures the delivery queue.
type Outbound struct {
	// Smarthost is host:port of the relay all mail goes through. Empty means
	// mail is written to the Outbox Maildir instead (development default).
	Smarthost string `toml:"smarthost"`
	// TLS is "none", "starttls" (required) or "opportunistic".
	TLS        string   `toml:"tls"`
	Username   string   `toml:"username"`
	Password   string   `toml:"password"`
	Outbox     string   `toml:"outbox"`
	GiveUp     Duration `toml:"give_up"`
	MinBackoff Duration `toml:"min_backoff"`
	MaxBackoff Duration `toml:"max_backoff"`
	// Concurrency is the number of parallel deliveries (and smarthost connections).
	Concurrency int      `toml:"concurrency"`
	Timeout     Duration `toml:"timeout"`
	// DKIMSelector names the DKIM key (SELECTOR._domainkey.DOMAIN); empty
	// sends unsigned. DKIMKey is its PEM file; empty means DATA_DIR/keys/dkim.pem.
	DKIMSelector string `toml:"dkim_selector"`
	DKIMKey      string `toml:"dkim_key"`
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
// refers to (defaults in DESIGN.md and the sample, each with its source: the
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
	return c, nil
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
	if c.Outbound.Concurrency <= 0 || c.Outbound.Concurrency > 256 {
		bad("outbound.concurrency %d: must be 1..256", c.Outbound.Concurrency)
	}
	if c.Outbound.Timeout <= 0 {
		bad("outbound.timeout: must be positive")
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

// WriteSample writes the commented sample to path, refusing to overwrite.
func WriteSample(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write sample config: %w", err)
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
