package procedure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"parley/casestore"
	"parley/config"
	"parley/locales"
	"parley/route"
	"parley/templates"
)

// zone is a test DNS holding TXT records.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(strings.ToLower(name), ".")]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (zone) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{IsNotFound: true}
}
func (zone) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{IsNotFound: true}
}
func (zone) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{IsNotFound: true}
}

// A forged From of a trader whose domain publishes DMARC p=reject does not
// speak for the trader; the real, DKIM-signed mail does.
func TestDMARCBindsSenders(t *testing.T) {
	ev := newEnv(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	z := zone{"_dmarc.shop.nl": {"v=DMARC1; p=reject"}}
	z["s1._domainkey.shop.nl"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	loc, _ := locales.New("en")
	tmpl, _ := templates.New(loc)
	ev.e = NewEngine(ev.store, ev.keys, tmpl, loc, Config{Domain: "d.test", Procedure: config.Default().Procedure, Auth: config.Auth{DMARC: "enforce"}, Resolver: z},
		slog.New(slog.NewTextHandler(io.Discard, nil)), func(ids ...uint64) { ev.mu.Lock(); ev.queued = append(ev.queued, ids...); ev.mu.Unlock() })
	ev.store.Update(func(tx *casestore.Tx) error {
		return tx.PutTrader(casestore.Trader{Handle: "shop", Name: "Shop", Email: "support@shop.nl", Lang: "en"})
	})
	ev.deliver("jan@consumer.example", route.Intake("shop"), complaint)
	c := ev.onlyCase()
	ev.take()
	target := route.Party(c.ID, route.Trader)
	reply := "From: support@shop.nl\r\nSubject: Re\r\n\r\nPay your refund to IBAN XX00 0000.\r\n"
	forged := ev.deliver("support@shop.nl", target, reply)
	if !forged.HasFlag(casestore.FlagQuarantined) || !strings.Contains(forged.Auth, "dmarc=fail") {
		t.Fatalf("forged From relayed: flags %v auth %q", forged.Flags, forged.Auth)
	}
	ev.take()
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader("From: support@shop.nl\r\nSubject: Re\r\n\r\nRefund sent today.\r\n"), &dkim.SignOptions{Domain: "shop.nl", Selector: "s1", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	real := ev.deliver("support@shop.nl", target, signed.String())
	if real.HasFlag(casestore.FlagQuarantined) || !strings.Contains(real.Auth, "dmarc=pass") {
		t.Fatalf("signed mail refused: flags %v auth %q", real.Flags, real.Auth)
	}
	if out := ev.take(); len(out) != 1 || out[0].o.To != "jan@consumer.example" {
		t.Fatalf("signed reply not relayed: %d", len(out))
	}
}
