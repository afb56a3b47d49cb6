// Package smtpclient is the client side of an SMTP session as Parley's
// outbound queue uses it: one connection kept open for many transactions,
// each sent in one write when the server offers PIPELINING.
//
// It follows RFC 5321 (SMTP), RFC 2920 (command pipelining: MAIL, RCPT and
// DATA go out together and their replies are read in order), RFC 3207
// (STARTTLS), RFC 4954 with RFC 4616 (AUTH PLAIN, initial response), RFC 1870
// (SIZE), RFC 3463 with RFC 2034 (enhanced status codes) and RFC 6531
// (SMTPUTF8, asked for only when an address needs it).
//
// go-smtp's client sends each command on its own and waits for its reply,
// and the outbound queue sent RSET before every message: five round trips a
// message. Here a transaction on a kept connection costs two (the commands,
// then the content), which matters most to a smarthost across a WAN.
package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limits on what a server may send back; a reply past them is an error,
// not a buffer that grows.
const (
	maxReplyLine  = 2048 // RFC 5321 section 4.5.3.1.5 sets 512; some servers say more
	maxReplyLines = 100
)

// Client is one SMTP session. It is not safe for concurrent use: the
// outbound queue gives each worker its own.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	ext     map[string]string // EHLO keywords (upper case) and their parameters
	name    string            // our EHLO name
	timeout time.Duration
	tls     bool
	broken  error // set once the session's state is unknown: only Close is left
	copyBuf []byte
}

// Error is a reply the server gave that refused a command.
type Error struct {
	Command  string // the command refused, "MAIL", "RCPT", "DATA", "message" (the content), ...
	Code     int
	Enhanced string // "5.1.1", or "" when the server gave none
	Message  string
}

func (e *Error) Error() string {
	s := strconv.Itoa(e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	if e.Message != "" {
		s += " " + e.Message
	}
	return e.Command + ": " + s
}

// Permanent reports a 5xx reply: sending the same again cannot succeed.
func (e *Error) Permanent() bool { return e.Code >= 500 }

// Reply is a reply that accepted a command.
type Reply struct {
	Code     int
	Enhanced string
	Message  string // the text of its lines, joined by "\n"
}

// Options configure a session.
type Options struct {
	// Hostname is our name in EHLO; "localhost" when empty.
	Hostname string
	// Timeout bounds each command's round trip and each content write;
	// zero means 5 minutes (RFC 5321 section 4.5.3.2 asks for minutes).
	Timeout time.Duration
}

// New starts a session on conn: it reads the greeting and says EHLO (HELO
// when the server refuses EHLO). On an error conn is closed.
func New(conn net.Conn, opts Options) (*Client, error) {
	c := &Client{conn: conn, name: opts.Hostname, timeout: opts.Timeout}
	if c.name == "" {
		c.name = "localhost"
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Minute
	}
	if err := checkLine(c.name); err != nil {
		conn.Close()
		return nil, fmt.Errorf("EHLO name: %w", err)
	}
	_, c.tls = conn.(*tls.Conn)
	c.r = bufio.NewReaderSize(conn, 4096)
	c.w = bufio.NewWriterSize(conn, 16384)
	c.deadline(context.Background())
	if _, err := c.expect("greeting", 220); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.hello(); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) hello() error {
	c.ext = map[string]string{}
	reply, err := c.cmd("EHLO", 250, "EHLO %s", c.name)
	var se *Error
	if errors.As(err, &se) && se.Code >= 500 {
		// An old server without ESMTP (RFC 5321 section 3.2).
		_, err = c.cmd("HELO", 250, "HELO %s", c.name)
		return err
	}
	if err != nil {
		return err
	}
	lines := strings.Split(reply.Message, "\n")
	for _, l := range lines[1:] { // the first line is the server's name
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Extension says whether the server named keyword in its EHLO reply, and
// with which parameters.
func (c *Client) Extension(keyword string) (bool, string) {
	v, ok := c.ext[strings.ToUpper(keyword)]
	return ok, v
}

// TLS reports whether the session runs over TLS.
func (c *Client) TLS() bool { return c.tls }

// ConnectionState is the TLS state of the session; ok is false in clear text.
func (c *Client) ConnectionState() (cs tls.ConnectionState, ok bool) {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return cs, false
	}
	return tc.ConnectionState(), true
}

// StartTLS upgrades the session (RFC 3207) and says EHLO again, as the
// server forgets what it was told in clear text. A server that does not
// offer STARTTLS gives an error that is not an *Error; the session is still
// usable in clear text then.
func (c *Client) StartTLS(cfg *tls.Config) error {
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("the server does not offer STARTTLS")
	}
	if _, err := c.cmd("STARTTLS", 220, "STARTTLS"); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		// Bytes after the 220 came in clear text before the handshake; read
		// after it they would pass for replies under TLS (the injection of
		// CVE-2011-0411, aimed at the client).
		c.broken = errors.New("data after the STARTTLS reply")
		return c.broken
	}
	tc := tls.Client(c.conn, cfg)
	c.deadline(context.Background())
	if err := tc.Handshake(); err != nil {
		c.broken = fmt.Errorf("TLS handshake: %w", err)
		return c.broken
	}
	c.conn, c.tls = tc, true
	c.r.Reset(tc)
	c.w.Reset(tc)
	return c.hello()
}

// Auth authenticates with AUTH PLAIN (RFC 4954, RFC 4616), the credentials
// in the first line. Whether TLS must come first is the caller's choice (the
// smarthost's tls setting).
func (c *Client) Auth(user, password string) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("the server does not offer AUTH")
	}
	if !hasWord(mechs, "PLAIN") {
		return fmt.Errorf("the server offers AUTH %s, not PLAIN", mechs)
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	c.deadline(context.Background())
	if err := c.send("AUTH PLAIN %s", ir); err != nil {
		return err
	}
	reply, err := c.read("AUTH")
	if err == nil && reply.Code == 334 {
		// The server ignored the initial response and asks for it.
		if err := c.send("%s", ir); err != nil {
			return err
		}
		reply, err = c.read("AUTH")
	}
	if err != nil {
		return err
	}
	if reply.Code != 235 {
		return &Error{Command: "AUTH", Code: reply.Code, Enhanced: reply.Enhanced, Message: reply.Message}
	}
	return nil
}

// Send runs one mail transaction for one recipient: MAIL, RCPT and DATA
// (in one write when the server pipelines), then the content, dot-stuffed
// with CRLF line ends (RFC 5321 section 4.5.2), and the final reply. size
// is announced with SIZE when the server takes it; 0 announces nothing.
//
// A refusal is an *Error and leaves the session usable for the next
// transaction (after Reset); a failure once the content was being sent
// comes wrapped in a *ContentError. Any other error (the connection failed,
// ctx ended, a reply could not be read) leaves it broken: Close it. A
// *StaleError is such an error before the server answered anything of this
// transaction: a kept connection the server had closed.
func (c *Client) Send(ctx context.Context, from, to string, size int64, content io.Reader) (Reply, error) {
	if c.broken != nil {
		return Reply{}, fmt.Errorf("session unusable: %w", c.broken)
	}
	for _, a := range []string{from, to} {
		if err := checkLine(a); err != nil || strings.ContainsAny(a, "<> ") {
			return Reply{}, fmt.Errorf("address %q cannot go into a command", a)
		}
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) }) // ends a wait in progress
	defer stop()
	c.deadline(ctx)

	mail := "MAIL FROM:<" + from + ">"
	if ok, _ := c.Extension("SIZE"); ok && size > 0 {
		mail += " SIZE=" + strconv.FormatInt(size, 10)
	}
	if !isASCII(from) || !isASCII(to) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return Reply{}, &Error{Command: "MAIL", Code: 553, Enhanced: "5.6.7",
				Message: "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)"}
		}
		mail += " SMTPUTF8"
	}
	pipelined, _ := c.Extension("PIPELINING")
	var mailErr, rcptErr error
	if pipelined {
		c.w.WriteString(mail + "\r\nRCPT TO:<" + to + ">\r\nDATA\r\n")
		if err := c.flush(); err != nil {
			return Reply{}, stale(err)
		}
		if err := c.awaitFirst("MAIL"); err != nil {
			return Reply{}, err
		}
		if _, mailErr = c.expect("MAIL", 250); mailErr != nil && !isRefusal(mailErr) {
			return Reply{}, mailErr
		}
		// A server that refused MAIL and then hung up (421) has said why:
		// its refusal is the answer, not the lost connection after it.
		if _, rcptErr = c.expect("RCPT", 250, 251); rcptErr != nil && !isRefusal(rcptErr) {
			return Reply{}, firstErr(mailErr, rcptErr)
		}
		_, dataErr := c.expect("DATA", 354)
		if dataErr != nil && !isRefusal(dataErr) {
			return Reply{}, firstErr(mailErr, rcptErr, dataErr)
		}
		if err := firstErr(mailErr, rcptErr); err != nil {
			if dataErr == nil {
				// The server took DATA although nobody is to receive the
				// content: end it empty, and the transaction with it
				// (RFC 2920 section 3.1).
				c.w.WriteString(".\r\n")
				if ferr := c.flush(); ferr != nil {
					return Reply{}, ferr
				}
				if _, rerr := c.read("DATA"); rerr != nil {
					return Reply{}, rerr
				}
			}
			return Reply{}, err
		}
		if dataErr != nil {
			return Reply{}, dataErr
		}
	} else {
		if err := c.send("%s", mail); err != nil {
			return Reply{}, stale(err)
		}
		if err := c.awaitFirst("MAIL"); err != nil {
			return Reply{}, err
		}
		if _, err := c.expect("MAIL", 250); err != nil {
			return Reply{}, err
		}
		for _, step := range []struct {
			verb, line string
			codes      []int
		}{{"RCPT", "RCPT TO:<" + to + ">", []int{250, 251}}, {"DATA", "DATA", []int{354}}} {
			if err := c.send("%s", step.line); err != nil {
				return Reply{}, err
			}
			if _, err := c.expect(step.verb, step.codes...); err != nil {
				return Reply{}, err
			}
		}
	}

	c.deadline(ctx)
	dw := &dotWriter{w: c.w}
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, 16384) // kept: io.Copy would allocate 32 KiB a message
	}
	if _, err := io.CopyBuffer(dw, content, c.copyBuf); err != nil {
		c.broken = fmt.Errorf("sending the content: %w", err)
		return Reply{}, &ContentError{c.broken}
	}
	if err := dw.Close(); err != nil { // the final dot, flushed
		c.broken = fmt.Errorf("sending the content: %w", err)
		return Reply{}, &ContentError{c.broken}
	}
	c.deadline(ctx)
	reply, err := c.expect("message", 250)
	if err != nil {
		return Reply{}, &ContentError{err}
	}
	return reply, nil
}

// ContentError is a failure once the content was being sent: the server
// may hold the message (a refusal after the final dot is an *Error inside
// it), so another server must not be given it in the same attempt.
type ContentError struct{ Err error }

func (e *ContentError) Error() string { return e.Err.Error() }
func (e *ContentError) Unwrap() error { return e.Err }

// Reset ends a transaction a refusal left open (RSET).
func (c *Client) Reset() error {
	_, err := c.cmd("RSET", 250, "RSET")
	return err
}

// Quit ends the session politely and closes the connection.
func (c *Client) Quit() error {
	var err error
	if c.broken == nil {
		_, err = c.cmd("QUIT", 221, "QUIT")
	}
	return errors.Join(err, c.Close())
}

// Close closes the connection without a word.
func (c *Client) Close() error {
	if c.broken == nil {
		c.broken = errors.New("closed")
	}
	return c.conn.Close()
}

// deadline bounds the next round trip by the timeout and ctx's deadline.
// A ctx already ended keeps the deadline in the past its AfterFunc set.
func (c *Client) deadline(ctx context.Context) {
	d := time.Now().Add(c.timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	if ctx.Err() != nil {
		d = time.Unix(1, 0)
	}
	c.conn.SetDeadline(d)
}

func (c *Client) cmd(verb string, code int, format string, args ...any) (Reply, error) {
	if c.broken != nil {
		return Reply{}, fmt.Errorf("session unusable: %w", c.broken)
	}
	c.deadline(context.Background())
	if err := c.send(format, args...); err != nil {
		return Reply{}, err
	}
	return c.expect(verb, code)
}

func (c *Client) send(format string, args ...any) error {
	fmt.Fprintf(c.w, format, args...)
	c.w.WriteString("\r\n")
	return c.flush()
}

func (c *Client) flush() error {
	if err := c.w.Flush(); err != nil {
		c.broken = err
		return err
	}
	return nil
}

// expect reads a reply and turns a code other than want into an *Error.
func (c *Client) expect(verb string, want ...int) (Reply, error) {
	reply, err := c.read(verb)
	if err != nil {
		return reply, err
	}
	for _, w := range want {
		if reply.Code == w {
			return reply, nil
		}
	}
	if reply.Code == 421 {
		// The server is closing the session (RFC 5321 section 3.8).
		c.broken = errors.New("the server closed the session (421)")
	}
	return Reply{}, &Error{Command: verb, Code: reply.Code, Enhanced: reply.Enhanced, Message: reply.Message}
}

// awaitFirst waits for the first byte of a transaction's first reply:
// nothing at all back (EOF, reset) means the server had dropped the kept
// connection before it read the transaction.
func (c *Client) awaitFirst(verb string) error {
	if _, err := c.r.Peek(1); err != nil {
		c.broken = err
		return stale(fmt.Errorf("%s: no reply: %w", verb, err))
	}
	return nil
}

// read reads one reply, of one or more lines (RFC 5321 section 4.2.1).
func (c *Client) read(verb string) (Reply, error) {
	var reply Reply
	var text []string
	for i := 0; ; i++ {
		line, err := c.line()
		if err != nil {
			c.broken = err
			return Reply{}, fmt.Errorf("%s: reading the reply: %w", verb, err)
		}
		if i >= maxReplyLines {
			c.broken = errors.New("reply too long")
			return Reply{}, fmt.Errorf("%s: reply of more than %d lines", verb, maxReplyLines)
		}
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			c.broken = errors.New("malformed reply")
			return Reply{}, fmt.Errorf("%s: malformed reply %q", verb, truncate(line))
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			c.broken = errors.New("malformed reply")
			return Reply{}, fmt.Errorf("%s: malformed reply code %q", verb, truncate(line))
		}
		if i == 0 {
			reply.Code = code
		} else if code != reply.Code {
			c.broken = errors.New("malformed reply")
			return Reply{}, fmt.Errorf("%s: reply lines with codes %d and %d", verb, reply.Code, code)
		}
		msg := ""
		if len(line) > 4 {
			msg = line[4:]
		}
		if e, rest, ok := enhanced(msg, code); ok {
			if i == 0 {
				reply.Enhanced = e
			}
			msg = rest
		}
		text = append(text, msg)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
	}
	reply.Message = strings.Join(text, "\n")
	return reply, nil
}

// line reads one CRLF (or LF) terminated line, at most maxReplyLine long.
func (c *Client) line() (string, error) {
	var buf []byte
	for {
		part, err := c.r.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > maxReplyLine {
			return "", fmt.Errorf("reply line longer than %d bytes", maxReplyLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		return strings.TrimRight(string(buf), "\r\n"), nil
	}
}

// enhanced splits an enhanced status code (RFC 3463) off a reply line; its
// class must agree with the reply code's.
func enhanced(msg string, code int) (string, string, bool) {
	e, rest, _ := strings.Cut(msg, " ")
	parts := strings.Split(e, ".")
	if len(parts) != 3 || len(e) > 11 || e[0]-'0' != byte(code/100) {
		return "", msg, false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return "", msg, false
		}
	}
	return e, rest, true
}

// StaleError is a failure before the server answered any of a transaction
// on a kept connection: nothing of it reached the server's queue, so the
// transaction can be run again at once on a new connection.
type StaleError struct{ Err error }

func (e *StaleError) Error() string { return "kept connection closed by the server: " + e.Err.Error() }
func (e *StaleError) Unwrap() error { return e.Err }

// stale marks err as a StaleError when it says the peer had closed the
// connection; a timeout is the server being slow, not gone.
func stale(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &StaleError{err}
	}
	return err
}

func isRefusal(err error) bool {
	var se *Error
	return errors.As(err, &se)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkLine(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return errors.New("contains a line break")
	}
	return nil
}

func hasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
