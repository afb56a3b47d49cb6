package outbound

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs outbound mail for the domain with every key it holds (RFC 6376,
// relaxed/relaxed; Ed25519 by RFC 8463 beside RSA, so receivers that know
// Ed25519 use it and the others still find an RSA signature they verify).
type DKIM struct {
	Domain string
	Keys   []DKIMKey
}

// DKIMKey is one signing key and its selector (SELECTOR._domainkey.DOMAIN).
type DKIMKey struct {
	Selector string
	Signer   crypto.Signer
}

// signedHeaders are the fields signed (RFC 6376 section 5.4.1), From first.
var signedHeaders = []string{"From", "Reply-To", "To", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
	"Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Language", "Auto-Submitted", "X-Parley-Case"}

// Signature computes one DKIM-Signature header field per key for the message
// in r, read once, and returns them to be put before the message.
func (d *DKIM) Signature(r io.Reader) (string, error) {
	signers := make([]*dkim.Signer, 0, len(d.Keys))
	writers := make([]io.Writer, 0, len(d.Keys))
	closeAll := func() {
		for _, s := range signers {
			s.Close()
		}
	}
	for _, k := range d.Keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{Domain: d.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed, HeaderKeys: signedHeaders})
		if err != nil {
			closeAll()
			return "", fmt.Errorf("selector %s: %w", k.Selector, err)
		}
		signers, writers = append(signers, s), append(writers, s)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), r); err != nil {
		closeAll()
		return "", err
	}
	var out string
	var errs []error
	for i, s := range signers {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("selector %s: %w", d.Keys[i].Selector, err))
		}
		out += s.Signature()
	}
	return out, errors.Join(errs...)
}

// KeyType names the algorithm of a DKIM key file.
type KeyType string

const (
	RSA     KeyType = "rsa"     // RSA-2048, rsa-sha256 (RFC 6376)
	Ed25519 KeyType = "ed25519" // ed25519-sha256 (RFC 8463)
)

// LoadOrCreateDKIMKey reads a DKIM key of type kt (PKCS#8 PEM, or PKCS#1
// for RSA), creating one (RSA-2048 or Ed25519, mode 0600 in a 0700 folder)
// when the file does not exist. Creation is atomic: a second process
// creating the same key at the same moment reads the first one's.
func LoadOrCreateDKIMKey(path string, kt KeyType) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createDKIMKey(path, kt); err != nil {
			return nil, fmt.Errorf("create DKIM key %s: %w", path, err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read DKIM key: %w", err)
	}
	return parseDKIMKey(path, data, kt)
}

func parseDKIMKey(path string, data []byte, kt KeyType) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("DKIM key %s: no PEM block", path)
	}
	var key any
	var err error
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if kt == RSA {
			if k.N.BitLen() < 1024 {
				return nil, fmt.Errorf("DKIM key %s: %d-bit RSA is too short (RFC 8301 wants at least 1024, 2048 is made by default)", path, k.N.BitLen())
			}
			return k, nil
		}
	case ed25519.PrivateKey:
		if kt == Ed25519 {
			return k, nil
		}
	}
	return nil, fmt.Errorf("DKIM key %s: want an %s key, found %T", path, kt, key)
}

func createDKIMKey(path string, kt KeyType) error {
	var key any
	var err error
	switch kt {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unknown key type %q", kt)
	}
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".dkim-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Link, unlike rename, never replaces: a key another process made first wins.
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
