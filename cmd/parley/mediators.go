package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"parley/casestore"
	"parley/config"
	"parley/imapd"
	"parley/smtpd"
	"parley/threading"
)

// mediatorServers are what mediators connect to: the shared IMAP mailbox
// (plain with STARTTLS, and implicit TLS) and the SMTP submission listener.
// They share one login rate limiter, and the certificate of every listener.
type mediatorServers struct {
	imap *imapd.Server
	sub  *smtpd.Server
	errs chan error
}

// startMediators listens on the configured addresses; each empty address is
// off. On an error nothing is left listening.
func startMediators(cfg config.Config, tlsCfg *tls.Config, store *casestore.Store, keys *threading.Keys, jobs smtpd.Submitter, mon *monitor, log *slog.Logger) (*mediatorServers, error) {
	m := &mediatorServers{errs: make(chan error, 3)}
	if cfg.IMAP.Listen == "" && cfg.IMAP.TLSListen == "" && cfg.Submission.Listen == "" {
		return m, nil
	}
	var err error
	auth := imapd.NewAuthenticator(store, imapd.AuthConfig{Metrics: mon.reg.IMAP()}, log.With("part", "auth"))
	var listeners []net.Listener
	listen := func(what, addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, o := range listeners {
				o.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", what, err)
		}
		listeners = append(listeners, l)
		return l, nil
	}
	var plainL, tlsL, subL net.Listener
	if cfg.IMAP.Listen != "" {
		if plainL, err = listen("IMAP", cfg.IMAP.Listen); err != nil {
			return nil, err
		}
	}
	if cfg.IMAP.TLSListen != "" {
		if tlsL, err = listen("IMAP TLS", cfg.IMAP.TLSListen); err != nil {
			return nil, err
		}
	}
	if cfg.Submission.Listen != "" {
		if subL, err = listen("submission", cfg.Submission.Listen); err != nil {
			return nil, err
		}
	}
	var addrs []any
	if plainL != nil || tlsL != nil {
		m.imap = imapd.New(imapd.Config{Domain: cfg.Domain, TLS: tlsCfg, ClosedFolders: cfg.IMAP.ClosedFolders,
			Retention: cfg.Procedure.Retention.From(store.Now()).Sub(store.Now()), Metrics: mon.reg.IMAP()}, store, keys, auth, log.With("part", "imap"))
		if plainL != nil {
			go func() { m.errs <- mon.serving("imap", func() error { return m.imap.Serve(plainL) }) }()
			addrs = append(addrs, "imap", plainL.Addr().String())
		}
		if tlsL != nil {
			go func() { m.errs <- mon.serving("imaps", func() error { return m.imap.ServeTLS(tlsL) }) }()
			addrs = append(addrs, "imaps", tlsL.Addr().String())
		}
	}
	if subL != nil {
		subCfg := smtpConfig(cfg)
		subCfg.Submission, subCfg.Authenticate, subCfg.TLSConfig = true, submissionAuth(auth), tlsCfg
		subCfg.Metrics = mon.reg.SMTP("submission")
		m.sub = smtpd.New(subCfg, store, keys, jobs, log.With("part", "submission"))
		go func() { m.errs <- mon.serving("submission", func() error { return m.sub.Serve(subL) }) }()
		addrs = append(addrs, "submission", subL.Addr().String())
	}
	log.Info("mediators served", addrs...)
	return m, nil
}

// shutdown stops both listeners and ends their sessions (at the latest when
// ctx ends).
func (m *mediatorServers) shutdown(ctx context.Context) {
	if m.sub != nil {
		m.sub.Shutdown(ctx)
	}
	if m.imap != nil {
		m.imap.Shutdown(ctx)
	}
}

// submissionAuth adapts the mediator login to what smtpd understands.
func submissionAuth(a *imapd.Authenticator) smtpd.Authenticator {
	return func(ctx context.Context, remote net.Addr, username, password string) (string, error) {
		email, err := a.Login(ctx, remote, username, password)
		switch {
		case errors.Is(err, imapd.ErrRateLimited):
			return "", fmt.Errorf("%w: %v", smtpd.ErrTooManyFailures, err)
		case errors.Is(err, imapd.ErrBadCredentials):
			return "", smtpd.ErrBadCredentials
		}
		return email, err
	}
}
