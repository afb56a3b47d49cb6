package outbound

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"parley/config"
	"parley/dnsrecords"
	"parley/dnstest"
)

// testDKIM makes both keys of domain in a fresh keys folder.
func testDKIM(t testing.TB, domain string) *DKIM {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	dk := &DKIM{Domain: domain}
	for _, k := range []struct {
		sel string
		kt  KeyType
	}{{"parley-ed25519", Ed25519}, {"parley-rsa", RSA}} {
		key, err := LoadOrCreateDKIMKey(filepath.Join(dir, k.sel+".pem"), k.kt)
		if err != nil {
			t.Fatal(err)
		}
		dk.Keys = append(dk.Keys, DKIMKey{Selector: k.sel, Signer: key})
	}
	return dk
}

// publish serves the records `parley dns` prints for dk's domain from a
// DNS server on loopback and returns a resolver asking it.
func publish(t *testing.T, dk *DKIM) config.DNS {
	t.Helper()
	p := dnsrecords.Params{Domain: dk.Domain, Host: "mx." + dk.Domain, DMARCPolicy: "quarantine", MTASTSMode: "none"}
	for _, k := range dk.Keys {
		p.DKIM = append(p.DKIM, dnsrecords.DKIMKey{Selector: k.Selector, Public: k.Signer.Public()})
	}
	set, err := dnsrecords.Build(p)
	if err != nil {
		t.Fatal(err)
	}
	var zone bytes.Buffer
	if err := set.WriteZone(&zone); err != nil {
		t.Fatal(err)
	}
	return config.DNS{Resolver: dnstest.Serve(t, zone.String()).Addr}
}

// verifyDKIM checks that msg carries exactly one valid signature per
// algorithm in algos, each verified with the key the resolver answers.
func verifyDKIM(t *testing.T, msg string, dnsCfg config.DNS, algos ...string) {
	t.Helper()
	res := dnsCfg.NewResolver()
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return res.LookupTXT(context.Background(), name)
	}})
	if err != nil || len(vs) != len(algos) {
		t.Fatalf("verify: %v, %d signatures, want %d", err, len(vs), len(algos))
	}
	for i, v := range vs {
		if v.Err != nil {
			t.Fatalf("signature %d (%s) does not verify: %v", i, v.Identifier, v.Err)
		}
	}
	for _, a := range algos {
		if strings.Count(msg, "a="+a+";") != 1 {
			t.Errorf("want one %s signature in\n%s", a, msg[:min(len(msg), 1500)])
		}
	}
}

const testMessage = "From: Parley <case-1@d.test>\r\nTo: someone@example.org\r\nSubject: Your case\r\n" +
	"Date: Wed, 02 Dec 2026 12:00:00 +0000\r\nMessage-Id: <1@d.test>\r\nMime-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\n"

func TestDKIMSignsWithBothKeys(t *testing.T) {
	dk := testDKIM(t, "d.test")
	dnsCfg := publish(t, dk)
	msg := testMessage + strings.Repeat("The trader has seven days to answer.\r\n", 100)
	sig, err := dk.Signature(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(sig, "DKIM-Signature: "); n != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2:\n%s", n, sig)
	}
	verifyDKIM(t, sig+msg, dnsCfg, "ed25519-sha256", "rsa-sha256")
	// A changed body fails both.
	vs, err := dkim.VerifyWithOptions(strings.NewReader(sig+msg+"P.S. forged\r\n"), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return dnsCfg.NewResolver().LookupTXT(context.Background(), name)
	}})
	if err != nil || len(vs) != 2 || vs[0].Err == nil || vs[1].Err == nil {
		t.Fatalf("a changed body still verifies: %v %+v", err, vs)
	}
}

func TestDKIMKeyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ed := filepath.Join(dir, "ed.pem")
	k1, err := LoadOrCreateDKIMKey(ed, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateDKIMKey(ed, Ed25519)
	if err != nil || !bytes.Equal(publicValue(t, k1), publicValue(t, k2)) {
		t.Fatalf("second load made another key: %v", err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, ed: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), want, err)
		}
	}
	if _, err := LoadOrCreateDKIMKey(ed, RSA); err == nil || !strings.Contains(err.Error(), "want an rsa key") {
		t.Errorf("an Ed25519 file read as RSA: %v", err)
	}
	// An RSA key in PKCS#1 form, as openssl genrsa -traditional writes it.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := filepath.Join(t.TempDir(), "rsa.pem")
	if err := os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadOrCreateDKIMKey(pkcs1, RSA); err != nil || !rsaKey.Equal(k) {
		t.Errorf("PKCS#1 RSA key: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left in %s: %v", dir, entries)
	}
}

// TestDKIMKeyCreatedOnce: serve and parley dns starting together make one
// key, not one each.
func TestDKIMKeyCreatedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "ed.pem")
	vals := make([]string, 8)
	var wg sync.WaitGroup
	for i := range vals {
		wg.Go(func() {
			k, err := LoadOrCreateDKIMKey(path, Ed25519)
			if err != nil {
				t.Error(err)
				return
			}
			vals[i] = fmt.Sprint(k.Public())
		})
	}
	wg.Wait()
	for _, v := range vals[1:] {
		if v != vals[0] {
			t.Fatalf("concurrent first loads made different keys: %q and %q", vals[0], v)
		}
	}
}

func publicValue(t *testing.T, k interface{ Public() crypto.PublicKey }) []byte {
	t.Helper()
	v, err := dnsrecords.DKIMValue(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return []byte(v)
}

// BenchmarkDKIM measures signing one 4 KiB message per key type and with
// both, as delivery does.
func BenchmarkDKIM(b *testing.B) {
	all := testDKIM(b, "d.test")
	msg := testMessage + strings.Repeat("The trader has seven days to answer this complaint.\r\n", 80)
	for _, c := range []struct {
		name string
		keys []DKIMKey
	}{{"ed25519", all.Keys[:1]}, {"rsa2048", all.Keys[1:]}, {"both", all.Keys}} {
		dk := &DKIM{Domain: all.Domain, Keys: c.keys}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := dk.Signature(strings.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
