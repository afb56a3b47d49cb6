package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"parley/certs"
	"parley/config"
)

// startTLS opens the certificate source of every listener and, with ACME,
// the challenge listeners the CA connects to, then starts issuance. The
// returned func closes them and the source.
func startTLS(ctx context.Context, cfg config.Config, log *slog.Logger) (*certs.Source, func(), error) {
	certFile, keyFile := cfg.CertFiles()
	t := cfg.TLS
	src, err := certs.Open(certs.Config{Hostname: cfg.Hostname, DataDir: cfg.DataDir, CertFile: certFile, KeyFile: keyFile,
		ACME: t.ACME, ACMEEmail: t.ACMEEmail, ACMEDirectory: t.ACMEDirectory}, log)
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		src.Close()
	}
	if !src.ACME() {
		log.Info("TLS certificate", "source", tlsSourceName(certFile))
		return src, closeAll, nil
	}
	if t.ACMEHTTPListen != "" {
		l, err := net.Listen("tcp", t.ACMEHTTPListen)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("listen ACME HTTP-01 (tls.acme_http_listen): %w", err)
		}
		hs := &http.Server{Handler: src.HTTPChallenges(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
		go func() {
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("ACME HTTP-01 listener stopped", "err", err)
			}
		}()
		closers = append(closers, func() { hs.Close() })
		log.Info("ACME HTTP-01 answered", "addr", l.Addr().String())
	}
	if t.ACMETLSListen != "" {
		l, err := net.Listen("tcp", t.ACMETLSListen)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("listen ACME TLS-ALPN-01 (tls.acme_tls_listen): %w", err)
		}
		go func() {
			if err := src.ServeTLSChallenges(l); err != nil {
				log.Error("ACME TLS-ALPN-01 listener stopped", "err", err)
			}
		}()
		closers = append(closers, func() { l.Close() })
		log.Info("ACME TLS-ALPN-01 answered", "addr", l.Addr().String())
	}
	src.Start(ctx)
	log.Info("TLS certificate", "source", "ACME", "directory", t.ACMEDirectory, "host", cfg.Hostname)
	return src, closeAll, nil
}

func tlsSourceName(certFile string) string {
	if certFile == "" {
		return "self-signed in " + certs.SelfSignedDir
	}
	return certFile
}
