// Package dnsrecords owns the DNS records a Parley domain publishes so that
// mail to it arrives and mail from it is believed: MX (RFC 5321 section 5),
// SPF (RFC 7208), the DKIM keys (RFC 6376 section 3.6.1, RFC 8463 section
// 4.2), DMARC (RFC 7489), MTA-STS (RFC 8461) with its policy file, and
// TLS-RPT (RFC 8460). It builds them from the configuration, writes them in
// zone-file form (RFC 1035 section 5), and checks what a resolver answers
// against them.
package dnsrecords

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Params is what the records are built from.
type Params struct {
	Domain string // the mail domain (complaints@DOMAIN)
	Host   string // the host receiving and sending its mail (MX target, EHLO name)
	// DKIM are the signing keys; none when signing is off.
	DKIM []DKIMKey
	// DMARCPolicy is none, quarantine or reject; DMARCRUA an address or
	// mailto: URI for aggregate reports, empty for none.
	DMARCPolicy, DMARCRUA string
	// TLSRPTRUA is an address, mailto: or https: URI; empty means postmaster@DOMAIN.
	TLSRPTRUA string
	// MTASTSMode is enforce, testing or none; MTASTSMaxAge the policy's max_age.
	MTASTSMode   string
	MTASTSMaxAge time.Duration
	// Smarthost, when mail leaves through one, is named in a note: its
	// addresses must be in SPF too, and only its operator knows them.
	Smarthost string
}

// DKIMKey is a published key: SELECTOR._domainkey.DOMAIN.
type DKIMKey struct {
	Selector string
	Public   crypto.PublicKey
}

// Kinds of record, which say how a found record is compared.
const (
	KindMX      = "MX"
	KindAddress = "A/AAAA" // the host must resolve; its address is the operator's
	KindSPF     = "SPF"
	KindDKIM    = "DKIM"
	KindDMARC   = "DMARC"
	KindMTASTS  = "MTA-STS"
	// KindMTASTSPolicy is the policy file served at mta-sts.DOMAIN over
	// HTTPS; the zone shows the host's address records as comments.
	KindMTASTSPolicy = "MTA-STS-policy"
	KindTLSRPT       = "TLS-RPT"
)

// Record is one record to publish.
type Record struct {
	Kind string
	Name string // owner name, without the final dot
	// Type is the RR type (MX, TXT), or "" for a host's addresses, which
	// the operator writes (A/AAAA or CNAME) and the zone shows as comments.
	Type  string
	Value string // MX: "PREF HOST"; TXT: the text, unsplit
	// Required records make `parley dns --check` fail when missing; a
	// record found but different always fails.
	Required bool
	Note     string // why, shown as a comment above it
}

// TTL of the printed records: an hour, so a mistake is not cached for long.
const TTL = 3600

// Set is the records of one domain and the MTA-STS policy to serve.
type Set struct {
	Domain  string
	Host    string
	Records []Record
	// Policy is the text to serve at https://mta-sts.DOMAIN/.well-known/mta-sts.txt;
	// empty when mta_sts_mode is none.
	Policy string
	Notes  []string // said once above the records
}

// Build returns the records for p.
func Build(p Params) (*Set, error) {
	domain, host := canon(p.Domain), canon(p.Host)
	if host == "" {
		host = domain
	}
	if domain == "" {
		return nil, fmt.Errorf("no domain to build DNS records for")
	}
	s := &Set{Domain: domain, Host: host}
	s.add(Record{Kind: KindMX, Name: domain, Type: "MX", Value: "10 " + host + ".", Required: true,
		Note: "mail for " + domain + " goes to " + host})
	s.add(Record{Kind: KindAddress, Name: host, Required: true,
		Note: host + " needs A and/or AAAA records with this server's addresses (and a PTR back to " + host + ")"})
	// a:HOST, not mx: Parley sends from HOST; mx would also authorise any
	// other MX added later and costs a lookup per MX. ~all, not -all: DMARC
	// decides on SPF or DKIM, and -all lets some receivers reject forwarded
	// mail on SPF alone before DKIM is looked at (RFC 7489 section 10.1).
	s.add(Record{Kind: KindSPF, Name: domain, Type: "TXT", Value: "v=spf1 a:" + host + " ~all", Required: true,
		Note: "SPF (RFC 7208): the bounce address (MAIL FROM) is at " + domain + "; mail leaves from " + host})
	if p.Smarthost != "" {
		s.Notes = append(s.Notes, "mail leaves through the smarthost "+p.Smarthost+": add its provider's SPF mechanism (such as include:...) to the SPF record, before ~all")
	}
	if host != domain {
		s.add(Record{Kind: KindSPF, Name: host, Type: "TXT", Value: "v=spf1 a ~all",
			Note: "SPF for the EHLO name " + host + " (RFC 7208 section 2.3), checked on bounces"})
	}
	if len(p.DKIM) == 0 {
		s.Notes = append(s.Notes, "DKIM signing is off: DMARC rests on SPF alone")
	}
	for _, k := range p.DKIM {
		v, err := DKIMValue(k.Public)
		if err != nil {
			return nil, fmt.Errorf("DKIM key %s: %w", k.Selector, err)
		}
		s.add(Record{Kind: KindDKIM, Name: k.Selector + "._domainkey." + domain, Type: "TXT", Value: v, Required: true,
			Note: "DKIM public key, selector " + k.Selector})
	}
	dmarc := "v=DMARC1; p=" + p.DMARCPolicy
	if p.DMARCRUA != "" {
		dmarc += "; rua=" + mailto(p.DMARCRUA)
	}
	s.add(Record{Kind: KindDMARC, Name: "_dmarc." + domain, Type: "TXT", Value: dmarc, Required: true,
		Note: "DMARC (RFC 7489): what receivers do with mail claiming " + domain + " that fails SPF and DKIM"})
	if p.MTASTSMode != "none" {
		s.Policy = fmt.Sprintf("version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: %d\r\n", p.MTASTSMode, host, int64(p.MTASTSMaxAge/time.Second))
		sum := sha256.Sum256([]byte(s.Policy))
		s.add(Record{Kind: KindMTASTS, Name: "_mta-sts." + domain, Type: "TXT", Value: "v=STSv1; id=" + hex.EncodeToString(sum[:8]),
			Note: "MTA-STS (RFC 8461): the id is a digest of the policy below, so it changes exactly when the policy does"})
		s.add(Record{Kind: KindMTASTSPolicy, Name: "mta-sts." + domain, Value: s.Policy,
			Note: "mta-sts." + domain + " needs A/AAAA (or a CNAME) for the web server serving the policy below over HTTPS"})
	}
	rua := p.TLSRPTRUA
	if rua == "" {
		rua = "postmaster@" + domain
	}
	if !strings.HasPrefix(rua, "https:") {
		rua = mailto(rua)
	}
	s.add(Record{Kind: KindTLSRPT, Name: "_smtp._tls." + domain, Type: "TXT", Value: "v=TLSRPTv1; rua=" + rua,
		Note: "TLS-RPT (RFC 8460): where senders report failed TLS to " + host})
	return s, nil
}

func (s *Set) add(r Record) { s.Records = append(s.Records, r) }

// DKIMValue is the TXT record text that publishes a DKIM public key: RSA
// as SubjectPublicKeyInfo (RFC 6376 3.6.1), Ed25519 as its 32 raw bytes
// (RFC 8463 4.2).
func DKIMValue(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("key type %T: want RSA or Ed25519", pub)
}

func mailto(addr string) string {
	if strings.HasPrefix(addr, "mailto:") {
		return addr
	}
	return "mailto:" + addr
}

func canon(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}
