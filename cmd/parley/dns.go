package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"parley/config"
	"parley/dnsrecords"
	"parley/mailauth"
	"parley/outbound"
)

// cmdDNS prints the DNS records to publish for the domain, or with --check
// says which the resolver does not answer as printed.
func cmdDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	domain := fs.String("domain", "", "mail domain (overrides domain)")
	check := fs.Bool("check", false, "look the records up ([dns] resolver) and fetch the MTA-STS policy; say which are missing or differ; exit 1 if a required one is")
	policy := fs.Bool("mta-sts-policy", false, "print only the MTA-STS policy file to serve")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *domain != "" {
		cfg.Domain = *domain
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	set, err := dnsRecords(cfg)
	if err != nil {
		return err
	}
	switch {
	case *policy:
		if set.Policy == "" {
			return fmt.Errorf("dns.mta_sts_mode is none: there is no MTA-STS policy to serve")
		}
		_, err = fmt.Print(set.Policy)
		return err
	case *check:
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res := cfg.DNS.NewResolver()
		dialer := &net.Dialer{Resolver: res, Timeout: 10 * time.Second}
		web := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 10 * time.Second}}
		vs := set.Check(ctx, res, web)
		if err := dnsrecords.WriteVerdicts(os.Stdout, vs); err != nil {
			return err
		}
		if dnsrecords.Failed(vs) {
			none := true
			for _, v := range vs {
				none = none && v.Status != dnsrecords.OK && v.Status != dnsrecords.Differs
			}
			if none {
				// Nothing at all found: as likely the resolver as the zone.
				return fmt.Errorf("dns --check: no record found for %s; if they are published, check that the resolver (%s) answers for the domain", set.Domain, resolverName(cfg.DNS.Resolver))
			}
			return errors.New("dns --check: records missing or different; `parley dns` prints what to publish")
		}
		return nil
	}
	return set.WriteZone(os.Stdout)
}

// dnsRecords builds the records for cfg, making the DKIM keys if they are
// not there yet, so they can be published before the first start.
func dnsRecords(cfg config.Config) (*dnsrecords.Set, error) {
	dk, err := loadDKIM(cfg)
	if err != nil {
		return nil, err
	}
	p := dnsrecords.Params{Domain: cfg.Domain, Host: cfg.Hostname, DMARCPolicy: cfg.DNS.DMARCPolicy, DMARCRUA: cfg.DNS.DMARCRUA,
		TLSRPTRUA: cfg.DNS.TLSRPTRUA, MTASTSMode: cfg.DNS.MTASTSMode, MTASTSMaxAge: cfg.DNS.MTASTSMaxAge.D(), Smarthost: cfg.Outbound.Smarthost}
	if dk != nil {
		for _, k := range dk.Keys {
			p.DKIM = append(p.DKIM, dnsrecords.DKIMKey{Selector: k.Selector, Public: k.Signer.Public()})
		}
	}
	return dnsrecords.Build(p)
}

// loadDKIM returns the signer for outbound mail, creating its keys on first
// use, or nil when signing is off for the domain.
func loadDKIM(cfg config.Config) (*outbound.DKIM, error) {
	o := cfg.Outbound
	if !o.DKIMOn(mailauth.Reserved(cfg.Domain)) {
		return nil, nil
	}
	dk := &outbound.DKIM{Domain: cfg.Domain}
	for _, k := range []struct {
		selector, path string
		kt             outbound.KeyType
	}{{o.DKIMEd25519Selector, o.DKIMEd25519Key, outbound.Ed25519}, {o.DKIMSelector, o.DKIMKey, outbound.RSA}} {
		key, err := outbound.LoadOrCreateDKIMKey(k.path, k.kt)
		if err != nil {
			return nil, err
		}
		dk.Keys = append(dk.Keys, outbound.DKIMKey{Selector: k.selector, Signer: key})
	}
	return dk, nil
}

// resolverName names the resolver a check used, for its messages.
func resolverName(addr string) string {
	if addr == "" {
		return "the system's, /etc/resolv.conf; [dns] resolver sets another"
	}
	return addr
}
