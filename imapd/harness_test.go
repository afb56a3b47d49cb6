package imapd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/crypto/argon2"

	"parley/casestore"
	"parley/certs"
	"parley/route"
	"parley/threading"
)

const (
	testDomain   = "disputes.test"
	testUser     = "med@example.org"
	testPassword = "correct horse battery staple"
)

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t     testing.TB
	dir   string
	store *casestore.Store
	keys  *threading.Keys
	auth  *Authenticator
	srv   *Server
	addr  string
	log   *syncBuffer
	now   time.Time
	mu    sync.Mutex
	cfg   Config
	acfg  AuthConfig
	// beforeStart runs on the open store before the server starts.
	beforeStart func(*harness)
	// cfgFn adjusts the server configuration.
	cfgFn func(*Config)
}

type harnessOpt func(*harness)

func withAuth(a AuthConfig) harnessOpt { return func(h *harness) { h.acfg = a } }

func beforeStart(fn func(*harness)) harnessOpt { return func(h *harness) { h.beforeStart = fn } }

func withConfig(fn func(*Config)) harnessOpt { return func(h *harness) { h.cfgFn = fn } }

// inDir keeps the store in dir instead of a temporary folder ("" changes nothing).
func inDir(dir string) harnessOpt {
	return func(h *harness) {
		if dir != "" {
			h.dir = dir
		}
	}
}

// newHarness opens a store in a temporary folder with one mediator and
// serves IMAP on a loopback port.
func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), log: &syncBuffer{}, now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	h.acfg = AuthConfig{FailDelay: -1}
	for _, o := range opts {
		o(h)
	}
	h.openStore()
	if err := h.store.Update(func(tx *casestore.Tx) error {
		return tx.PutMediator(casestore.Mediator{Email: testUser, Name: "Mia Mediator", Lang: "en", Password: cheapHash(testPassword)})
	}); err != nil {
		t.Fatal(err)
	}
	if h.beforeStart != nil {
		h.beforeStart(h)
	}
	h.start()
	t.Cleanup(func() {
		h.stop()
		h.store.Close()
		if strings.Contains(strings.ToLower(h.log.String()), "panic") {
			t.Errorf("server log mentions a panic:\n%s", h.log.String())
		}
	})
	return h
}

func (h *harness) openStore() {
	var err error
	h.store, err = casestore.Open(h.dir, casestore.Options{Now: h.clock})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.keys == nil {
		h.keys, err = threading.NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(time.Second) // every event gets its own second
	return h.now
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (h *harness) start() {
	tlsCfg, err := certs.LoadTLS(h.dir, "", "", "localhost")
	if err != nil {
		h.t.Fatal(err)
	}
	h.auth = NewAuthenticator(h.store, h.acfg, h.logger())
	h.cfg = Config{Domain: testDomain, TLS: tlsCfg, PollInterval: 50 * time.Millisecond}
	if h.cfgFn != nil {
		h.cfgFn(&h.cfg)
	}
	h.srv = New(h.cfg, h.store, h.keys, h.auth, h.logger())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go h.srv.Serve(l)
}

func (h *harness) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.srv.Shutdown(ctx)
}

// restart stops the server, reopens the store and serves again.
func (h *harness) restart() {
	h.stop()
	h.store.Close()
	h.openStore()
	h.start()
}

// cheapHash is an argon2id PHC string with tiny parameters, so tests do not
// spend 64 MiB and a second per login; password.Verify reads the parameters.
func cheapHash(pw string) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func (h *harness) update(fn func(tx *casestore.Tx) error) {
	h.t.Helper()
	if err := h.store.Update(fn); err != nil {
		h.t.Fatal(err)
	}
}

// addCase creates a case with its parties.
func (h *harness) addCase(id, state, trader string) {
	h.update(func(tx *casestore.Tx) error {
		return tx.PutCase(&casestore.Case{
			ID: id, Created: h.now, State: state, Title: "Broken kettle", Intake: "acme@" + testDomain,
			Consumer: casestore.Party{Role: "consumer", Name: "Jan", Email: "jan@consumer.example", Lang: "en"},
			Trader:   casestore.Party{Role: "trader", Name: trader, Email: "support@acme.example", Lang: "nl"},
			Mediator: casestore.Party{Role: "mediator", Name: "Mia Mediator", Email: testUser, Lang: "en"},
		})
	})
}

func (h *harness) setState(id, state string) {
	h.update(func(tx *casestore.Tx) error {
		c, err := tx.Case(id)
		if err != nil {
			return err
		}
		c.State = state
		return tx.PutCase(c)
	})
}

// addMessage stores an inbound message of a case as the procedure leaves it.
func (h *harness) addMessage(caseID, role string, raw []byte, flags ...string) uint64 {
	var id uint64
	sum := sha256.Sum256(raw)
	h.update(func(tx *casestore.Tx) error {
		var err error
		if id, err = tx.NextMessageID(); err != nil {
			return err
		}
		if err := tx.PutRawInline(hex.EncodeToString(sum[:]), raw); err != nil {
			return err
		}
		if _, err := tx.RefRaw(hex.EncodeToString(sum[:]), 1); err != nil {
			return err
		}
		return tx.PutMessage(&casestore.Message{
			ID: id, Received: h.clock(), MailFrom: role + "@example.org", Target: route.Party(caseID, route.Role(role)),
			Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:]), CaseID: caseID, Role: route.Role(role), Flags: flags, Processed: true,
		})
	})
	return id
}

// addOutbound stores a notice Parley sent in a case (a relay would not show:
// the message it passes on stands for it).
func (h *harness) addOutbound(caseID string, raw []byte) {
	h.update(func(tx *casestore.Tx) error {
		return tx.AddOutbound(&casestore.Outbound{CaseID: caseID, Role: "trader", Kind: "notice", To: "support@acme.example",
			Created: h.clock(), State: casestore.OutSent}, raw)
	})
}

// addNote appends an internal note to a case's log.
func (h *harness) addNote(caseID, text string) {
	h.update(func(tx *casestore.Tx) error {
		c, err := tx.Case(caseID)
		if err != nil {
			return err
		}
		if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvNote, Role: "mediator", Text: text}); err != nil {
			return err
		}
		return tx.PutCase(c)
	})
}

// mediatorAddr is the Reply-To every message of the case must carry.
func (h *harness) mediatorAddr(caseID string) string {
	return h.keys.PartyLocal(caseID, route.Mediator) + "@" + testDomain
}

// served is what the server must serve for raw in caseID.
func (h *harness) served(caseID string, raw []byte, fields ...string) []byte {
	addr := h.mediatorAddr(caseID)
	return withReplyTo(withFields(inThread(raw, threadRoot(caseID, addr)), fields), addr)
}

// servedNotice is served for one of Parley's notices to the trader.
func (h *harness) servedNotice(caseID string, raw []byte) []byte {
	return h.served(caseID, raw, "X-Parley-Sent-To: trader")
}

// client logs in a go-imap client; handler may be nil.
func (h *harness) client(handler *imapclient.UnilateralDataHandler) *imapclient.Client {
	h.t.Helper()
	c, err := imapclient.DialInsecure(h.addr, &imapclient.Options{UnilateralDataHandler: handler})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		h.t.Fatalf("login: %v", err)
	}
	return c
}

func tlsClientConfig() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// msg builds a small RFC 5322 message.
func msg(from, subject, body string, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: someone@%s\r\nSubject: %s\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%x@example.org>\r\n",
		from, testDomain, subject, sha256.Sum256([]byte(subject+body)))
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	return b.Bytes()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flagStrings(fs []imap.Flag) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
