package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/casestore"
	"parley/route"
	"parley/threading"
)

type jobSink struct {
	mu   sync.Mutex
	jobs []casestore.Job
}

func (j *jobSink) Submit(jobs ...casestore.Job) {
	j.mu.Lock()
	j.jobs = append(j.jobs, jobs...)
	j.mu.Unlock()
}

// syncBuffer is a log sink the panic gate reads after the test.
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
	t     *testing.T
	dir   string
	store *casestore.Store
	keys  *threading.Keys
	srv   *Server
	addr  string
	jobs  *jobSink
	log   *syncBuffer
}

func testConfig() Config {
	return Config{
		Domain: "disputes.test", Hostname: "mx.disputes.test", MaxMessageSize: 1 << 20, MaxRecipients: 5,
		MaxLineLength: 4096, MaxHeaderSize: 8192, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		DataTimeout: 30 * time.Second, MaxConnections: 20,
	}
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), jobs: &jobSink{}, log: &syncBuffer{}}
	var err error
	if h.store, err = casestore.Open(h.dir, casestore.Options{}); err != nil {
		t.Fatal(err)
	}
	if h.keys, err = threading.LoadOrCreateKeys(h.dir + "/keys"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(h.log, nil))
	h.srv = New(cfg, h.store, h.keys, h.jobs, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go h.srv.Serve(l)
	t.Cleanup(func() {
		h.srv.srv.Close()
		h.store.Close()
		// Panic gate: nothing may have panicked while serving.
		if strings.Contains(strings.ToLower(h.log.String()), "panic") {
			t.Errorf("server log mentions a panic:\n%s", h.log.String())
		}
	})
	return h
}

type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (h *harness) dial() *client {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	c := &client{t: h.t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	c.cmd("EHLO client.test", "250")
	return c
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (c *client) reply() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("reply %q, want %s", r, prefix)
	}
	return r
}

func (c *client) cmd(line, want string) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, "%s\r\n", line)
	return c.expect(want)
}

func (c *client) raw(s string) { c.conn.Write([]byte(s)) }

func (h *harness) messages() []casestore.Message {
	var out []casestore.Message
	h.store.View(func(tx *casestore.Tx) error {
		for id := uint64(1); id < 1000; id++ {
			m, err := tx.Message(id)
			if err != nil {
				break
			}
			out = append(out, *m)
		}
		return nil
	})
	return out
}

func TestSMTPSmugglingRefused(t *testing.T) {
	h := start(t, testConfig())
	testSmugglingRefused(t, h, h.dial)
}

// testSmugglingRefused sends each smuggling variant over a session that
// dial opens (plain, or under STARTTLS).
func testSmugglingRefused(t *testing.T, h *harness, dial func() *client) {
	variants := map[string]string{
		"LF.LF":     "\n.\n",
		"LF.CRLF":   "\n.\r\n",
		"CR.CRLF":   "\r.\r\n",
		"CRLF.CR":   "\r\n.\r",
		"CRLF.LF":   "\r\n.\n",
		"CR.CR":     "\r.\r",
		"bare LF":   "\nX-Other: 1\r\n",
		"bare CR":   "\rX-Other: 1\r\n",
		"LF header": "",
	}
	// Each variant twice: waiting for 354 as RFC 2920 asks, and pipelined
	// in one write with the commands (a smuggler need not wait), so the
	// message is read ahead with the commands.
	for name, sep := range variants {
		for _, pipelined := range []bool{false, true} {
			testSmuggling(t, h, dial, name, sep, pipelined)
		}
	}
	if msgs := h.messages(); len(msgs) != 0 {
		t.Fatalf("stored %d messages from smuggling attempts", len(msgs))
	}
}

func testSmuggling(t *testing.T, h *harness, dial func() *client, name, sep string, pipelined bool) {
	if pipelined {
		name += " pipelined"
	}
	{
		t.Run(name, func(t *testing.T) {
			c := dial()
			head := "Subject: first\r\n\r\nbody"
			if strings.HasPrefix(name, "LF header") {
				head = "Subject: first\nFrom: a@example.org\r\n\r\nbody"
			}
			msg := head + sep + "MAIL FROM:<evil@example.org>\r\nRCPT TO:<complaints@disputes.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n"
			if pipelined {
				c.raw("MAIL FROM:<a@example.org>\r\nRCPT TO:<complaints@disputes.test>\r\nDATA\r\n" + msg)
				c.expect("250")
				c.expect("250")
				c.expect("354")
			} else {
				c.cmd("MAIL FROM:<a@example.org>", "250")
				c.cmd("RCPT TO:<complaints@disputes.test>", "250")
				c.cmd("DATA", "354")
				c.raw(msg)
			}
			r := c.expect("550 5.6.0")
			if !strings.Contains(r, "CRLF") {
				t.Errorf("reply does not explain: %q", r)
			}
			// Exactly one reply for the whole transfer: the next one answers NOOP.
			c.cmd("NOOP", "250")
			c.cmd("QUIT", "221")
		})
	}
}

// A bare LF in the commands pipelined around a clean message (go-smtp reads
// such command lines) is not the message's: it is accepted, and the next
// pipelined message too.
func TestPipelinedCommandsDoNotTaintMessage(t *testing.T) {
	h := start(t, testConfig())
	c := h.dial()
	msg := func(n int) string {
		return fmt.Sprintf("Subject: clean %d\r\nMessage-ID: <clean-%d@client.test>\r\n\r\nbody\r\n.\r\n", n, n)
	}
	c.raw("MAIL FROM:<a@example.org>\nRCPT TO:<complaints@disputes.test>\r\nDATA\r\n" + msg(1) +
		"NOOP\nMAIL FROM:<a@example.org>\r\nRCPT TO:<complaints@disputes.test>\nDATA\r\n" + msg(2) + "NOOP\n")
	for _, want := range []string{"250", "250", "354", "250 2.0.0 Ok: queued", "250", "250", "250", "354", "250 2.0.0 Ok: queued", "250"} {
		c.expect(want)
	}
	if n := len(h.messages()); n != 2 {
		t.Fatalf("stored %d messages, want 2", n)
	}
}

func TestRecipientPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecipients = 50
	h := start(t, cfg)
	h.store.Update(func(tx *casestore.Tx) error {
		tx.PutTrader(casestore.Trader{Handle: "acme", Name: "Acme", Email: "s@acme.example", Lang: "nl"})
		return tx.PutCase(&casestore.Case{ID: "K7Q-4M2P", State: casestore.StateOpen})
	})
	good := h.keys.PartyLocal("K7Q-4M2P", route.Trader)
	c := h.dial()
	c.cmd("MAIL FROM:<a@example.org>", "250")
	for rcpt, want := range map[string]string{
		"complaints@disputes.test":                                       "250",
		"COMPLAINTS@Disputes.Test":                                       "250",
		"acme@disputes.test":                                             "250",
		"postmaster@disputes.test":                                       "250",
		good + "@disputes.test":                                          "250",
		strings.ToUpper(good) + "@disputes.test":                         "250",
		h.keys.BounceLocal(7) + "@disputes.test":                         "250",
		"nobody@disputes.test":                                           "550 5.1.1",
		good[:len(good)-1] + "x@disputes.test":                           "550 5.1.1",
		h.keys.PartyLocal("AAA-AAAA", route.Consumer) + "@disputes.test": "550 5.1.1",
		"complaints@elsewhere.example":                                   "550 5.7.1",
		"complaints@disputes.test.evil.example":                          "550 5.7.1",
	} {
		c.cmd("RCPT TO:<"+rcpt+">", want)
	}
}

func TestLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 2000
	cfg.MaxHeaderSize = 500
	cfg.MaxLineLength = 1000
	h := start(t, cfg)
	send := func(data string, want string) {
		t.Helper()
		c := h.dial()
		c.cmd("MAIL FROM:<a@example.org>", "250")
		c.cmd("RCPT TO:<complaints@disputes.test>", "250")
		c.cmd("DATA", "354")
		c.raw(data + "\r\n.\r\n")
		c.expect(want)
		c.cmd("NOOP", "250")
	}
	send("Subject: big\r\n\r\n"+strings.Repeat("0123456789abcdef\r\n", 200), "552 5.3.4")
	send("Subject: x\r\nX-Pad: "+strings.Repeat("a", 600)+"\r\n\r\nbody", "552 5.3.4")
	send("Subject: ok\r\n\r\nsmall body", "250")
	c := h.dial()
	c.cmd("MAIL FROM:<a@example.org>", "250")
	for i := 0; i < 5; i++ {
		c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	}
	if n := len(h.messages()); n != 1 {
		t.Fatalf("stored %d messages, want the 1 within limits", n)
	}
}

func sendMessage(t *testing.T, h *harness, rcpt, data string) string {
	t.Helper()
	c := h.dial()
	c.cmd("MAIL FROM:<jan@example.org>", "250")
	c.cmd("RCPT TO:<"+rcpt+">", "250")
	c.cmd("DATA", "354")
	c.raw(data + ".\r\n") // data ends with CRLF
	r := c.expect("250 2.0.0")
	c.cmd("QUIT", "221")
	return r
}

func TestAcceptedMessageIsDurable(t *testing.T) {
	h := start(t, testConfig())
	small := "From: jan@example.org\r\nMessage-ID: <m1@example.org>\r\nSubject: kettle\r\n\r\nbroken\r\n"
	big := "From: jan@example.org\r\nSubject: photos\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 400)
	sendMessage(t, h, "complaints@disputes.test", small)
	sendMessage(t, h, "complaints@disputes.test", big)
	// Reopen the files as a restarted daemon would.
	h.srv.srv.Close()
	h.store.Close()
	store, err := casestore.Open(h.dir, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	msgs := h.messages()
	if len(msgs) != 2 {
		t.Fatalf("after reopen: %d messages", len(msgs))
	}
	var jobs []casestore.Job
	store.View(func(tx *casestore.Tx) (err error) { jobs, err = tx.Jobs(); return err })
	if len(jobs) != 2 {
		t.Fatalf("after reopen: %d jobs, want 2", len(jobs))
	}
	for i, want := range []string{small, big} {
		raw, err := store.Raw(msgs[i].SHA256)
		if err != nil || string(raw) != want {
			t.Fatalf("message %d raw differs (%d bytes, %v)", i, len(raw), err)
		}
		if msgs[i].MailFrom != "jan@example.org" || msgs[i].Target != route.Complaints() {
			t.Errorf("envelope not kept: %+v", msgs[i])
		}
	}
	if _, err := os.Stat(store.Blobs.Path(msgs[1].SHA256)); err != nil {
		t.Errorf("large message not in the blob folder: %v", err)
	}
	if msgs[0].MessageID != "<m1@example.org>" {
		t.Errorf("Message-ID = %q", msgs[0].MessageID)
	}
}

func TestRedeliveryStoredOnce(t *testing.T) {
	h := start(t, testConfig())
	m := "From: jan@example.org\r\nMessage-ID: <same@example.org>\r\nSubject: a\r\n\r\nfirst\r\n"
	r1 := sendMessage(t, h, "complaints@disputes.test", m)
	r2 := sendMessage(t, h, "complaints@disputes.test", m)
	if r1 != r2 {
		t.Errorf("redelivery got a different id: %q vs %q", r1, r2)
	}
	sendMessage(t, h, "complaints@disputes.test", strings.Replace(m, "first", "second", 1))
	if n := len(h.messages()); n != 2 {
		t.Fatalf("stored %d messages, want 2 (a redelivery once, a different message reusing the id kept)", n)
	}
	if n := len(h.jobs.jobs); n != 2 {
		t.Fatalf("%d jobs submitted, want 2", n)
	}
}

func TestInternalFailureIs451(t *testing.T) {
	h := start(t, testConfig())
	c := h.dial()
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	h.store.Close() // the commit cannot happen now
	c.cmd("DATA", "354")
	c.raw("Subject: x\r\n\r\nbody\r\n.\r\n")
	c.expect("451 4.3.0")
}

func TestConnectionLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 2
	h := start(t, cfg)
	h.dial()
	h.dial()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection got %q, want 421", line)
	}
}

func TestOneAddressCannotTakeEverySlot(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections, cfg.MaxPerIP = 10, 2
	h := start(t, cfg)
	h.dial()
	h.dial()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection from one address got %q, want 421", line)
	}
}

func TestBadSenderAndLongLine(t *testing.T) {
	cfg := testConfig()
	cfg.MaxLineLength = 1000
	h := start(t, cfg)
	c := h.dial()
	c.cmd("MAIL FROM:<nul\x00@example.org>", "553 5.1.7")
	c.cmd("MAIL FROM:<ok@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	c.cmd("DATA", "354")
	c.raw("Subject: x\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n.\r\n")
	c.expect("552 5.3.4")
}

// LMTP (RFC 2033) for a local MTA: one reply per recipient after DATA.
func TestLMTP(t *testing.T) {
	cfg := testConfig()
	cfg.LMTP = true
	h := start(t, cfg)
	h.store.Update(func(tx *casestore.Tx) error {
		return tx.PutTrader(casestore.Trader{Handle: "acme", Name: "Acme", Email: "s@acme.example", Lang: "nl"})
	})
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	c.cmd("LHLO mta.test", "250")
	c.cmd("MAIL FROM:<jan@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	c.cmd("RCPT TO:<acme@disputes.test>", "250")
	c.cmd("DATA", "354")
	c.raw("From: jan@example.org\r\nSubject: kettle\r\n\r\nbroken\r\n.\r\n")
	c.expect("250 2.0.0")
	c.expect("250 2.0.0")
	if n := len(h.messages()); n != 2 {
		t.Fatalf("%d messages stored, want one per recipient", n)
	}
}

// A client that only talks (NOOP, RSET, VRFY ...) is shown the door after
// MaxIdleCommands beyond one transaction's worth; each delivered message
// starts the count afresh, so a busy honest client never meets the limit.
func TestCommandsWithoutMessageEnd(t *testing.T) {
	cfg := testConfig()
	cfg.MaxIdleCommands = 4 // + 5 recipients + 5: 14 commands between messages
	h := start(t, cfg)
	c := h.dial() // EHLO: 1
	for round := 0; round < 3; round++ {
		for i := 0; i < 6; i++ {
			c.cmd("NOOP", "250")
		}
		c.cmd("MAIL FROM:<jan@consumer.example>", "250")
		for i := 0; i < 5; i++ {
			c.cmd("RCPT TO:<complaints@disputes.test>", "250")
		}
		c.cmd("DATA", "354")
		c.raw("From: jan@consumer.example\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
		c.expect("250")
	}
	for i := 0; i < 14; i++ {
		c.cmd("NOOP", "250")
	}
	fmt.Fprintf(c.conn, "NOOP\r\n")
	c.expect("421 4.7.0")
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Fatal("the connection stays open after 421")
	}
	if !strings.Contains(h.log.String(), "session ended: too many commands without a message") {
		t.Errorf("not logged:\n%s", h.log.String())
	}
}

// A session has a whole lifetime, however busy the client keeps it.
func TestSessionLifetime(t *testing.T) {
	cfg := testConfig()
	var mu sync.Mutex
	now := time.Now()
	cfg.MaxSession = 30 * time.Minute
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := start(t, cfg)
	c := h.dial()
	c.cmd("NOOP", "250")
	mu.Lock()
	now = now.Add(31 * time.Minute)
	mu.Unlock()
	// If the server was already waiting for this command when the time ran
	// out, it answers it and then ends the session; else it ends it at once.
	fmt.Fprintf(c.conn, "NOOP\r\n")
	if r := c.reply(); strings.HasPrefix(r, "250") {
		c.expect("421 4.4.2")
	} else if !strings.HasPrefix(r, "421 4.4.2") {
		t.Fatalf("after the lifetime: %q", r)
	}
	// A new session starts a new lifetime.
	h.dial().cmd("NOOP", "250")
}

// With the data folder under its margin, a transaction is refused before
// DATA with 452 4.3.1 (the sender keeps the mail); once there is room
// again, mail is accepted.
func TestNoRoomDefersMail(t *testing.T) {
	cfg := testConfig()
	var mu sync.Mutex
	free := int64(1 << 20)
	cfg.MinFreeSpace = 4 << 20
	cfg.FreeSpace = func() (int64, error) { mu.Lock(); defer mu.Unlock(); return free, nil }
	h := start(t, cfg)
	c := h.dial()
	c.cmd("MAIL FROM:<jan@consumer.example>", "452 4.3.1")
	if len(h.messages()) != 0 {
		t.Fatal("a message was stored")
	}
	mu.Lock()
	free = 1 << 30
	mu.Unlock()
	if got := sendMessage(t, h, "complaints@disputes.test", "From: jan@consumer.example\r\nSubject: x\r\n\r\nbody\r\n"); !strings.HasPrefix(got, "250") {
		t.Fatalf("with room again: %s", got)
	}
}

// The real statfs of the store's folder answers.
func TestFreeSpaceOfDataFolder(t *testing.T) {
	n, err := casestore.FreeSpace(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("freeSpace = %d, %v", n, err)
	}
}
