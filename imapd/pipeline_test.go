package imapd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"parley/casestore"
	"parley/config"
	"parley/locales"
	"parley/procedure"
	"parley/route"
	"parley/smtpd"
	"parley/templates"
)

// pipeline runs the real inbound path next to the IMAP server: SMTP on
// port 25's role and submission, and the procedure worker behind them.
type pipeline struct {
	smtpAddr, subAddr string
}

func startPipeline(h *harness) *pipeline {
	t := h.t
	loc, err := locales.New("en")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := templates.New(loc)
	if err != nil {
		t.Fatal(err)
	}
	engine := procedure.NewEngine(h.store, h.keys, tmpl, loc, procedure.Config{Domain: testDomain, Procedure: config.Default().Procedure},
		h.logger().With("part", "procedure"), nil)
	runner := procedure.NewRunner(engine, 2)
	ctx, cancel := context.WithCancel(context.Background())
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := smtpd.Config{
		Domain: testDomain, Hostname: "mx." + testDomain, MaxMessageSize: 1 << 20, MaxRecipients: 5,
		MaxLineLength: 4096, MaxHeaderSize: 8192, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		DataTimeout: 30 * time.Second, MaxConnections: 20,
	}
	mx := smtpd.New(cfg, h.store, h.keys, runner, h.logger().With("part", "smtp"))
	cfg.Submission, cfg.TLSConfig = true, h.cfg.TLS
	cfg.Authenticate = func(ctx context.Context, remote net.Addr, user, pw string) (string, error) {
		email, err := h.auth.Login(ctx, remote, user, pw)
		if errors.Is(err, ErrBadCredentials) {
			return "", smtpd.ErrBadCredentials
		}
		return email, err
	}
	sub := smtpd.New(cfg, h.store, h.keys, runner, h.logger().With("part", "submission"))
	p := &pipeline{}
	for _, s := range []struct {
		srv  *smtpd.Server
		addr *string
	}{{mx, &p.smtpAddr}, {sub, &p.subAddr}} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*s.addr = l.Addr().String()
		go s.srv.Serve(l)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		mx.Shutdown(sctx)
		sub.Shutdown(sctx)
		cancel()
		runner.Wait()
	})
	return p
}

func sendSMTP(t testing.TB, addr string, auth sasl.Client, from, to string, raw []byte) {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			t.Fatalf("AUTH: %v", err)
		}
	}
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		t.Fatalf("send to %s: %v", to, err)
	}
	c.Quit()
}

// TestMailOverSMTPReachesIdlingClients sends a party's mail through the real
// SMTP server and procedure, and a mediator's note through submission, and
// watches both appear in idling clients' folders.
func TestMailOverSMTPReachesIdlingClients(t *testing.T) {
	h := newHarness(t)
	h.addCase(caseA, casestore.StateMediation, "Acme Shop")
	p := startPipeline(h)
	folder := "Cases/K7Q-4M2P-Acme-Shop"

	var (
		mu     sync.Mutex
		counts = map[string]uint32{}
	)
	idle := func(name string) (*imapclient.Client, *imapclient.IdleCommand) {
		c := h.client(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				counts[name] = *d.NumMessages
				mu.Unlock()
			}
		}})
		if _, err := c.Select(name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		cmd, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		return c, cmd
	}
	caseClient, caseIdle := idle(folder)
	_, inboxIdle := idle("INBOX")

	// The consumer answers from their own address to their case address.
	to := h.keys.PartyLocal(caseA, route.Consumer) + "@" + testDomain
	sendSMTP(t, p.smtpAddr, nil, "jan@consumer.example", to,
		msg("Jan <jan@consumer.example>", "Re: [K7Q-4M2P] Broken kettle", "It is still broken, I want a refund."))
	// Stored and relayed to the trader and the mediator: once in the case
	// folder (naming whom it went to, not a copy per reader), once in INBOX.
	waitFor(t, "the consumer's mail in the idling clients", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[folder] >= 1 && counts["INBOX"] == 1
	})

	// The mediator writes an internal note through submission, to the
	// case's mediator address: the Reply-To of every message in the folder.
	note := msg(testUser, "Re: [K7Q-4M2P] Broken kettle", "#note Called the trader, refund by Friday.")
	sendSMTP(t, p.subAddr, sasl.NewPlainClient("", testUser, testPassword), testUser, h.mediatorAddr(caseA), note)
	mu.Lock()
	base := counts[folder]
	mu.Unlock()
	waitFor(t, "the mediator's message and the note in the case folder", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[folder] >= base+2
	})
	caseIdle.Close()
	caseIdle.Wait()
	inboxIdle.Close()

	n := caseClient.Mailbox().NumMessages
	all := imap.SeqSet{}
	all.AddRange(1, n)
	ms := fetchAll(t, caseClient, all, &imap.FetchOptions{Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var sawNote, sawRelay bool
	for _, m := range ms {
		body := string(bodyOf(m))
		if !strings.HasPrefix(body, "Reply-To: <"+h.mediatorAddr(caseA)+">\r\n") {
			t.Errorf("message %d does not start with the case's Reply-To:\n%.200s", m.SeqNum, body)
		}
		if strings.Contains(body, "X-Parley-Event:") && strings.Contains(body, "Called the trader, refund by Friday.") {
			sawNote = true
		}
		// The consumer's message, once, naming whom it went to; no copies.
		if strings.Contains(body, "It is still broken") {
			if strings.Contains(body, "via Parley") {
				t.Errorf("a relayed copy is in the case folder:\n%.300s", body)
			}
			sawRelay = strings.Contains(body, "X-Parley-Relayed: trader ") && strings.Contains(body, ", mediator ")
		}
		if !strings.Contains(body, "\r\nIn-Reply-To: <case-") {
			t.Errorf("message %d is not threaded on the case:\n%.300s", m.SeqNum, body)
		}
	}
	if !sawNote || !sawRelay {
		t.Errorf("case folder: note %v, message naming its relays %v; want both", sawNote, sawRelay)
	}
}
