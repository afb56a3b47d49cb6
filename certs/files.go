package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheckFiles is how often the certificate files are looked at again.
const recheckFiles = time.Minute

// fileCert is a certificate read from the operator's files and read again
// when they change (certbot and the like replace them every few weeks), so
// a renewal needs no restart. A pair that fails to load keeps the previous
// one in service, and the failure is logged.
type fileCert struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // modification times and sizes of both files when loaded
	checked time.Time
}

func newFileCert(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*fileCert, error) {
	f := &fileCert{certFile: certFile, keyFile: keyFile, now: now, log: log}
	stamp, err := f.stampNow()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	f.cert, f.stamp, f.checked = &cert, stamp, now()
	return f, nil
}

// stampNow describes both files as they are now.
func (f *fileCert) stampNow() (string, error) {
	var stamp string
	for _, p := range []string{f.certFile, f.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("TLS certificate: %w", err)
		}
		stamp += fmt.Sprintf("%d/%d ", st.ModTime().UnixNano(), st.Size())
	}
	return stamp, nil
}

// get returns the certificate, reloading it first when the files changed
// since the last look (at most one look a minute).
func (f *fileCert) get() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checked) < recheckFiles {
		return f.cert
	}
	f.checked = now
	stamp, err := f.stampNow()
	if err != nil || stamp == f.stamp {
		if err != nil {
			f.log.Error("TLS certificate files unreadable; serving the one loaded before", "err", err)
		}
		return f.cert
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		// Maybe half written: the next look tries again.
		f.log.Error("TLS certificate files changed but do not load; serving the one loaded before", "cert_file", f.certFile, "err", err)
		return f.cert
	}
	f.cert, f.stamp = &cert, stamp
	f.log.Info("TLS certificate reloaded", "cert_file", f.certFile)
	return f.cert
}
