package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gosmtp "github.com/emersion/go-smtp"

	"parley/porttest"
)

const domain = "disputes.localhost"

// parleyBin is the daemon binary built once by TestMain.
var parleyBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "parley-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	parleyBin = filepath.Join(tmp, "parley")
	build := exec.Command("go", "build", "-o", parleyBin, "./cmd/parley")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/parley in %s: %v\n%s", root, err, out)
		return 1
	}
	return m.Run()
}

// ---------------------------------------------------------------------------
// Small helpers

// freeAddr returns a loopback address whose port was free a moment ago, for
// a daemon to bind later (porttest says why it is not one the kernel picks).
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := porttest.Free()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// token returns a short random hex string for unique markers.
func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// waitUntil polls cond every interval until it reports true or timeout passes.
func waitUntil(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// ---------------------------------------------------------------------------
// Outgoing test mail

// header is one header field of a message the test writes.
type header struct{ name, value string }

// buildMessage writes an RFC 5322 message with CRLF line endings.
func buildMessage(headers []header, body string) []byte {
	var b bytes.Buffer
	has := map[string]bool{}
	for _, h := range headers {
		has[strings.ToLower(h.name)] = true
		fmt.Fprintf(&b, "%s: %s\r\n", h.name, h.value)
	}
	if !has["date"] {
		fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	}
	if !has["message-id"] {
		fmt.Fprintf(&b, "Message-ID: <%s@test.example>\r\n", token())
	}
	if !has["mime-version"] {
		b.WriteString("MIME-Version: 1.0\r\n")
	}
	if !has["content-type"] {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	b.WriteString(body)
	return b.Bytes()
}

// sendMail delivers raw over real SMTP to addr. It returns nil only if the
// server answered 250 to the end of DATA.
func sendMail(addr, mailFrom string, rcpts []string, raw []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := gosmtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test.example"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if err := c.Mail(mailFrom, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	c.Quit()
	return nil
}

// ---------------------------------------------------------------------------
// The smarthost sink

// sinkMsg is one message the sink accepted.
type sinkMsg struct {
	Seq      int
	MailFrom string
	Rcpts    []string
	Raw      []byte
	Header   mail.Header
	Text     string // decoded text/plain content
	ParseErr error
}

func (m *sinkMsg) Get(name string) string {
	if m.Header == nil {
		return ""
	}
	v := m.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		v = d
	}
	return strings.TrimSpace(v)
}

func (m *sinkMsg) CaseID() string    { return m.Get("X-Parley-Case") }
func (m *sinkMsg) MessageID() string { return m.Get("Message-Id") }

func (m *sinkMsg) To(addr string) bool {
	for _, r := range m.Rcpts {
		if strings.EqualFold(r, addr) {
			return true
		}
	}
	return false
}

// ReplyTo is the bare address in Reply-To.
func (m *sinkMsg) ReplyTo() string {
	a, err := mail.ParseAddress(m.Get("Reply-To"))
	if err != nil {
		return ""
	}
	return a.Address
}

func (m *sinkMsg) String() string {
	return fmt.Sprintf("#%d from=%s to=%v case=%s subject=%q msgid=%s", m.Seq, m.MailFrom, m.Rcpts, m.CaseID(), m.Get("Subject"), m.MessageID())
}

func parseSinkMsg(m *sinkMsg) {
	pm, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		m.ParseErr = err
		return
	}
	m.Header = pm.Header
	ent, err := message.Read(bytes.NewReader(m.Raw))
	if ent == nil {
		m.ParseErr = err
		return
	}
	m.Text = entityText(ent)
}

// entityText concatenates the decoded text/plain parts of an entity.
func entityText(e *message.Entity) string {
	if mr := e.MultipartReader(); mr != nil {
		var out strings.Builder
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			out.WriteString(entityText(p))
		}
		return out.String()
	}
	ct, _, _ := e.Header.ContentType()
	if ct != "" && ct != "text/plain" {
		return ""
	}
	b, _ := io.ReadAll(e.Body)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// sink is an in-test SMTP server standing in for the smarthost. It can be
// stopped and started again on the same address.
type sink struct {
	t    testing.TB
	addr string

	mu   sync.Mutex
	msgs []*sinkMsg
	srv  *gosmtp.Server
	done chan struct{}
}

func newSink(t testing.TB) *sink {
	s := &sink{t: t, addr: freeAddr(t)}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Start listens on the sink's address (retrying briefly if the port is not
// yet free again) and serves in the background.
func (s *sink) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		s.t.Fatalf("sink already running")
	}
	var l net.Listener
	ok := waitUntil(5*time.Second, 20*time.Millisecond, func() bool {
		var err error
		l, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	if !ok {
		s.t.Fatalf("sink: cannot listen on %s again", s.addr)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &sinkSession{s: s}, nil
	}))
	srv.Domain = "sink.test.example"
	srv.MaxLineLength = 1 << 20
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
}

// Stop closes the listener and every connection and waits for the server.
func (s *sink) Stop() {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv, s.done = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	<-done
}

func (s *sink) add(m *sinkMsg) {
	parseSinkMsg(m)
	// No mail Parley sends may show a template's gaps.
	if strings.Contains(m.Text, "<no value>") {
		s.t.Errorf("sink: %s shows <no value>:\n%s", m, m.Text)
	}
	s.mu.Lock()
	m.Seq = len(s.msgs) + 1
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// Messages is a snapshot of everything received so far.
func (s *sink) Messages() []*sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sinkMsg(nil), s.msgs...)
}

// Matching returns the messages received so far that satisfy pred.
func (s *sink) Matching(pred func(*sinkMsg) bool) []*sinkMsg {
	var out []*sinkMsg
	for _, m := range s.Messages() {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor polls until a received message satisfies pred and returns the first.
func (s *sink) WaitFor(timeout time.Duration, what string, pred func(*sinkMsg) bool) *sinkMsg {
	s.t.Helper()
	var found *sinkMsg
	waitUntil(timeout, 20*time.Millisecond, func() bool {
		if ms := s.Matching(pred); len(ms) > 0 {
			found = ms[0]
			return true
		}
		return false
	})
	if found == nil {
		s.t.Fatalf("sink: no %s within %s; received:\n%s", what, timeout, s.Summary())
	}
	return found
}

func (s *sink) Summary() string {
	var b strings.Builder
	for _, m := range s.Messages() {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	if b.Len() == 0 {
		return "  (nothing)"
	}
	return b.String()
}

type sinkSession struct {
	s     *sink
	from  string
	rcpts []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from, ss.rcpts = from, nil
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.add(&sinkMsg{MailFrom: ss.from, Rcpts: append([]string(nil), ss.rcpts...), Raw: raw})
	return nil
}

// ---------------------------------------------------------------------------
// The daemon

// daemon runs `parley serve` as a subprocess on a fixed data folder and ports.
type daemon struct {
	t        testing.TB
	dataDir  string
	cfgPath  string
	smtpAddr string
	sinkAddr string
	logPath  string
	// metricsAddr serves /metrics, /healthz and /debug/pprof/.
	metricsAddr string

	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

func newDaemon(t testing.TB, sinkAddr string) *daemon {
	return newDaemonWithConfig(t, sinkAddr, "")
}

// newDaemonWithConfig is newDaemon with extraTOML appended to the config file
// after the harness's own [outbound] table, so it may add keys to that table
// or open tables of its own ([procedure], ...).
func newDaemonWithConfig(t testing.TB, sinkAddr, extraTOML string) *daemon {
	dir := t.TempDir()
	d := &daemon{
		t:        t,
		dataDir:  filepath.Join(dir, "data"),
		cfgPath:  filepath.Join(dir, "parley.toml"),
		smtpAddr: freeAddr(t),
		sinkAddr: sinkAddr,
		logPath:  filepath.Join(dir, "parley.log"),

		metricsAddr: freeAddr(t),
	}
	// IMAP, submission and metrics on their own free ports, so tests never collide
	// with each other or with a daemon the developer runs on the defaults.
	cfg := fmt.Sprintf("[imap]\nlisten = %q\n[submission]\nlisten = %q\n[metrics]\nlisten = %q\n[outbound]\nmin_backoff = \"200ms\"\nmax_backoff = \"1s\"\n", freeAddr(t), freeAddr(t), d.metricsAddr)
	if extraTOML != "" {
		cfg += "\n" + extraTOML + "\n"
	}
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.running() {
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(d.logPath)
			t.Logf("parley output (%s):\n%s", d.logPath, out)
		}
	})
	return d
}

func (d *daemon) running() bool {
	if d.done == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Start runs `parley serve` and waits until it greets on its SMTP port.
func (d *daemon) Start() {
	d.t.Helper()
	if d.running() {
		d.t.Fatalf("parley already running")
	}
	d.starts++
	f, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== e2e: start #%d at %s ===\n", d.starts, time.Now().Format(time.RFC3339Nano))
	args := []string{"serve", "--data", d.dataDir, "--smtp", d.smtpAddr, "--domain", domain, "--config", d.cfgPath}
	if d.sinkAddr != "" { // else the config says how mail leaves
		args = append(args, "--smarthost", d.sinkAddr)
	}
	cmd := exec.Command(parleyBin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start parley: %v", err)
	}
	done := make(chan struct{})
	d.cmd, d.done = cmd, done
	go func() {
		cmd.Wait()
		close(done)
	}()
	var exited bool
	ready := waitUntil(20*time.Second, 20*time.Millisecond, func() bool {
		if !d.running() {
			exited = true
			return true
		}
		return greets(d.smtpAddr)
	})
	switch {
	case exited:
		d.t.Fatalf("parley serve exited during start-up: %v", cmd.ProcessState)
	case !ready:
		d.t.Fatalf("parley serve did not greet on %s within 20s", d.smtpAddr)
	}
}

// greets reports whether an SMTP server at addr answers with a 220 greeting.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "220") {
		return false
	}
	fmt.Fprintf(c, "QUIT\r\n")
	return true
}

// Stop sends SIGTERM and waits for a clean exit.
func (d *daemon) Stop() {
	d.t.Helper()
	if !d.running() {
		d.t.Fatalf("parley is not running")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("parley did not exit within 30s of SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Errorf("parley exited with %v after SIGTERM, want status 0", d.cmd.ProcessState)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) Kill() {
	d.t.Helper()
	if !d.running() {
		d.t.Fatalf("parley is not running")
	}
	d.cmd.Process.Kill()
	<-d.done
}

// Restart is Stop then Start.
func (d *daemon) Restart() {
	d.t.Helper()
	d.Stop()
	d.Start()
}

// Admin runs a parley admin command on the daemon's data folder and returns stdout.
func (d *daemon) Admin(args ...string) ([]byte, error) {
	return d.AdminEnv(nil, args...)
}

// AdminEnv is Admin with extra environment variables ("NAME=value") added to
// the test process's environment, e.g. PARLEY_PASSWORD for `mediator add`.
func (d *daemon) AdminEnv(env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append(args, "--data", d.dataDir, "--config", d.cfgPath)
	cmd := exec.CommandContext(ctx, parleyBin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("parley %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

func (d *daemon) MustAdmin(args ...string) []byte {
	d.t.Helper()
	out, err := d.Admin(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// JSON shapes of `parley case list --json` and `parley case show --json`,
// written from the documented field names rather than the Go types, so the
// tests pin the command line's contract.
type caseSummary struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Outcome  string `json:"outcome"`
	Title    string `json:"title"`
	Trader   string `json:"trader"`
	Consumer string `json:"consumer"`
	Messages int    `json:"messages"`
}

type partyJSON struct {
	Role        string `json:"role"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Lang        string `json:"lang"`
	CaseAddress string `json:"case_address"`
}

type messageJSON struct {
	ID        uint64   `json:"id"`
	MailFrom  string   `json:"mail_from"`
	Rcpt      string   `json:"rcpt"`
	Target    string   `json:"target"`
	MessageID string   `json:"message_id"`
	CaseID    string   `json:"case_id"`
	Role      string   `json:"role"`
	From      string   `json:"from"`
	Subject   string   `json:"subject"`
	Flags     []string `json:"flags"`
	Note      string   `json:"note"`
	Processed bool     `json:"processed"`
	// How the message arrived: under STARTTLS, which version and cipher.
	TLS        bool   `json:"tls"`
	TLSVersion string `json:"tls_version"`
	TLSCipher  string `json:"tls_cipher"`
}

func (m messageJSON) HasFlag(f string) bool {
	for _, x := range m.Flags {
		if x == f {
			return true
		}
	}
	return false
}

type outboundJSON struct {
	ID        uint64 `json:"id"`
	Role      string `json:"role"`
	Kind      string `json:"kind"`
	To        string `json:"to"`
	MessageID string `json:"message_id"`
	Attempts  int    `json:"attempts"`
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Via       string `json:"via"`
}

type eventJSON struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Role    string    `json:"role"`
	Message uint64    `json:"message"`
	Out     uint64    `json:"outbound"`
	Text    string    `json:"text"`
}

type timerJSON struct {
	Kind string    `json:"kind"`
	Due  time.Time `json:"due"`
}

type caseDetail struct {
	ID       string         `json:"id"`
	State    string         `json:"state"`
	Outcome  string         `json:"outcome"`
	Title    string         `json:"title"`
	Deadline time.Time      `json:"deadline"`
	Timers   []timerJSON    `json:"timers"`
	Consumer partyJSON      `json:"consumer"`
	Trader   partyJSON      `json:"trader"`
	Mediator partyJSON      `json:"mediator"`
	Parties  []partyJSON    `json:"parties"`
	Messages []messageJSON  `json:"messages"`
	Outbound []outboundJSON `json:"outbound"`
	Events   []eventJSON    `json:"events"`
}

func (c *caseDetail) Party(role string) partyJSON {
	for _, p := range c.Parties {
		if p.Role == role {
			return p
		}
	}
	return partyJSON{}
}

func (c *caseDetail) OutboundSummary() string {
	var b strings.Builder
	for _, o := range c.Outbound {
		fmt.Fprintf(&b, "  out %d %s to %s <%s>: %s (attempts %d) %s\n", o.ID, o.Kind, o.Role, o.To, o.State, o.Attempts, o.LastError)
	}
	return b.String()
}

func (d *daemon) Cases() ([]caseSummary, error) {
	out, err := d.Admin("case", "list", "--all", "--json")
	if err != nil {
		return nil, err
	}
	var page struct {
		Cases []caseSummary `json:"cases"`
		More  bool          `json:"more"`
	}
	if err := json.Unmarshal(out, &page); err != nil || page.More {
		return nil, fmt.Errorf("case list --all --json: %v (more %v)\n%s", err, page.More, out)
	}
	return page.Cases, nil
}

func (d *daemon) Case(id string) (*caseDetail, error) {
	out, err := d.Admin("case", "show", id, "--json")
	if err != nil {
		return nil, err
	}
	var c caseDetail
	if err := json.Unmarshal(out, &c); err != nil {
		return nil, fmt.Errorf("case show --json: %v\n%s", err, out)
	}
	return &c, nil
}

func (d *daemon) MustCase(id string) *caseDetail {
	d.t.Helper()
	c, err := d.Case(id)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// WaitCase polls `case show` until cond holds and returns that view.
func (d *daemon) WaitCase(id string, timeout time.Duration, what string, cond func(*caseDetail) bool) *caseDetail {
	d.t.Helper()
	var last *caseDetail
	var lastErr error
	ok := waitUntil(timeout, 50*time.Millisecond, func() bool {
		c, err := d.Case(id)
		if err != nil {
			lastErr = err
			return false
		}
		last, lastErr = c, nil
		return cond(c)
	})
	if !ok {
		if lastErr != nil {
			d.t.Fatalf("case %s: %s not reached within %s; last error: %v", id, what, timeout, lastErr)
		}
		js, _ := json.MarshalIndent(last, "", "  ")
		d.t.Fatalf("case %s: %s not reached within %s; last view:\n%s", id, what, timeout, js)
	}
	return last
}

// ---------------------------------------------------------------------------
// A running installation: sink + daemon + the trader "acme".

const (
	traderEmail = "support@acme.example"
	traderName  = "Acme Shop"
	intakeAddr  = "acme@" + domain
)

type env struct {
	t    *testing.T
	sink *sink
	d    *daemon
}

// newEnv starts the sink and the daemon and registers acme while serve runs.
func newEnv(t *testing.T) *env {
	t.Helper()
	s := newSink(t)
	s.Start()
	d := newDaemon(t, s.addr)
	d.Start()
	out := d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "nl")
	if !strings.Contains(string(out), "registered") {
		t.Fatalf("trader add: unexpected output %q", out)
	}
	return &env{t: t, sink: s, d: d}
}

// openedCase is a case opened by a consumer's complaint, with the two
// messages Parley sent for it.
type openedCase struct {
	ID            string
	ConsumerEmail string
	Complaint     string // unique text in the complaint
	Notice        *sinkMsg
	Confirm       *sinkMsg
	TraderAddr    string // the trader's case address (Reply-To of the notice)
	ConsumerAddr  string // the consumer's case address (Reply-To of the confirmation)
}

// sendComplaint mails a complaint to acme's complaint address and returns its unique marker.
func (e *env) sendComplaint(consumerName, consumerEmail string) string {
	e.t.Helper()
	marker := "COMPLAINT-" + token()
	raw := buildMessage([]header{
		{"From", fmt.Sprintf("%s <%s>", consumerName, consumerEmail)},
		{"To", "Acme <" + intakeAddr + ">"},
		{"Subject", "Order 4711 never arrived"},
	}, "Hello,\n\nI paid for order 4711 three weeks ago and it never arrived. "+marker+"\n\nPlease refund me.\n")
	if err := sendMail(e.d.smtpAddr, consumerEmail, []string{intakeAddr}, raw); err != nil {
		e.t.Fatalf("send complaint: %v", err)
	}
	return marker
}

// openCase sends a complaint and waits for the trader notice and the
// consumer's confirmation at the sink.
func (e *env) openCase(consumerName, consumerEmail string) *openedCase {
	e.t.Helper()
	marker := e.sendComplaint(consumerName, consumerEmail)
	notice := e.sink.WaitFor(20*time.Second, "trader notice", func(m *sinkMsg) bool {
		return m.To(traderEmail) && strings.Contains(m.Text, marker)
	})
	id := notice.CaseID()
	if id == "" {
		e.t.Fatalf("trader notice has no X-Parley-Case header:\n%s", notice.Raw)
	}
	confirm := e.sink.WaitFor(20*time.Second, "consumer confirmation", func(m *sinkMsg) bool {
		return m.To(consumerEmail) && m.CaseID() == id
	})
	oc := &openedCase{
		ID: id, ConsumerEmail: consumerEmail, Complaint: marker, Notice: notice, Confirm: confirm,
		TraderAddr: notice.ReplyTo(), ConsumerAddr: confirm.ReplyTo(),
	}
	if oc.TraderAddr == "" || !strings.HasSuffix(oc.TraderAddr, "@"+domain) {
		e.t.Fatalf("trader notice Reply-To %q is not a case address", notice.Get("Reply-To"))
	}
	if oc.ConsumerAddr == "" || !strings.HasSuffix(oc.ConsumerAddr, "@"+domain) {
		e.t.Fatalf("confirmation Reply-To %q is not a case address", confirm.Get("Reply-To"))
	}
	return oc
}

// traderReply writes a reply from the trader to its case address.
func (e *env) traderReply(oc *openedCase, msgID string, extra []header, body string) []byte {
	hs := []header{
		{"From", traderName + " <" + traderEmail + ">"},
		{"To", "<" + oc.TraderAddr + ">"},
		{"Subject", "Re: " + oc.Notice.Get("Subject")},
		{"In-Reply-To", oc.Notice.MessageID()},
		{"References", oc.Notice.MessageID()},
	}
	if msgID != "" {
		hs = append(hs, header{"Message-ID", msgID})
	}
	hs = append(hs, extra...)
	return buildMessage(hs, body)
}

// isRelayTo reports whether m is a message of case id to the consumer containing text.
func isRelayTo(oc *openedCase, text string) func(*sinkMsg) bool {
	return func(m *sinkMsg) bool {
		return m.To(oc.ConsumerEmail) && m.CaseID() == oc.ID && strings.Contains(m.Text, text)
	}
}
