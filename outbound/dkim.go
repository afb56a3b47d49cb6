package outbound

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs outbound mail for the domain (RFC 6376, relaxed/relaxed,
// rsa-sha256), so receivers can tie Parley's mail to its domain under DMARC.
type DKIM struct {
	Domain   string
	Selector string
	Key      crypto.Signer
}

// signedHeaders are the fields signed (RFC 6376 section 5.4.1), From first.
var signedHeaders = []string{"From", "Reply-To", "To", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
	"Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Language", "Auto-Submitted", "X-Parley-Case"}

// Signature computes the DKIM-Signature header line for the message in r.
func (d *DKIM) Signature(r io.Reader) (string, error) {
	s, err := dkim.NewSigner(&dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: d.Key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed, HeaderKeys: signedHeaders})
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(s, r); err != nil {
		s.Close()
		return "", err
	}
	if err := s.Close(); err != nil {
		return "", err
	}
	return s.Signature(), nil
}

// Record is the DNS TXT record that publishes the public key.
func (d *DKIM) Record() (name, value string, err error) {
	der, err := x509.MarshalPKIXPublicKey(d.Key.Public())
	if err != nil {
		return "", "", err
	}
	return d.Selector + "._domainkey." + d.Domain, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
}

// LoadOrCreateDKIMKey reads an RSA key (PKCS#8 or PKCS#1 PEM), creating a
// 2048-bit one (mode 0600) when the file does not exist.
func LoadOrCreateDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("write DKIM key: %w", err)
		}
		defer f.Close()
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			return nil, err
		}
		return key, f.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("read DKIM key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("DKIM key %s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok && !strings.Contains(fmt.Sprintf("%T", k), "ecdsa") {
			return s, nil
		}
		return nil, fmt.Errorf("DKIM key %s: want an RSA or Ed25519 key", path)
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	return k, nil
}
