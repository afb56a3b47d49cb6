package smtpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// scripted runs serve on the server side of one loopback connection and
// returns a client session opened on it.
func scripted(t *testing.T, serve func(r *bufio.Reader, w net.Conn)) (*Client, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		serve(bufio.NewReader(conn), conn)
	}()
	t.Cleanup(func() { <-done })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return New(conn, Options{Hostname: "parley.test", Timeout: 5 * time.Second})
}

// readLine reads one command line the client sent, without its CRLF.
func readLine(t *testing.T, r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	if err != nil {
		t.Errorf("server: reading a command: %v", err)
		return ""
	}
	if !strings.HasSuffix(line, "\r\n") {
		t.Errorf("server: command %q does not end in CRLF", line)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// readContent reads the DATA content up to the final dot, as sent.
func readContent(t *testing.T, r *bufio.Reader) string {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Errorf("server: reading content: %v", err)
			return b.String()
		}
		if line == ".\r\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func greet(t *testing.T, r *bufio.Reader, w net.Conn, ext ...string) {
	io.WriteString(w, "220 sink.test ESMTP\r\n")
	if got := readLine(t, r); got != "EHLO parley.test" {
		t.Errorf("server: got %q, want EHLO parley.test", got)
	}
	lines := append([]string{"sink.test"}, ext...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		io.WriteString(w, "250"+sep+l+"\r\n")
	}
}

func TestPipelinedTransactionIsOneWrite(t *testing.T) {
	var content string
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING", "SIZE 10000000", "ENHANCEDSTATUSCODES")
		// No reply before all three commands are in: a client that waits
		// for the MAIL reply before sending RCPT hangs here.
		cmds := []string{readLine(t, r), readLine(t, r), readLine(t, r)}
		want := []string{"MAIL FROM:<relay@disputes.test> SIZE=42", "RCPT TO:<shop@example.test>", "DATA"}
		for i := range want {
			if cmds[i] != want[i] {
				t.Errorf("command %d = %q, want %q", i, cmds[i], want[i])
			}
		}
		io.WriteString(w, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
		content = readContent(t, r)
		io.WriteString(w, "250 2.0.0 Ok: queued as 4ABC\r\n")
		if got := readLine(t, r); got != "QUIT" {
			t.Errorf("got %q, want QUIT", got)
		}
		io.WriteString(w, "221 2.0.0 Bye\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	// A bare LF becomes CRLF, a leading dot is doubled, the end gets a line break.
	reply, err := c.Send(context.Background(), "relay@disputes.test", "shop@example.test", 42,
		strings.NewReader("Subject: x\r\n\r\n.hidden\nlast"))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Code != 250 || reply.Enhanced != "2.0.0" || reply.Message != "Ok: queued as 4ABC" {
		t.Errorf("reply = %+v", reply)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
	if want := "Subject: x\r\n\r\n..hidden\r\nlast\r\n"; content != want {
		t.Errorf("content = %q, want %q", content, want)
	}
}

func TestWithoutPipeliningOneCommandAtATime(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "8BITMIME")
		for _, step := range []struct{ want, reply string }{
			{"MAIL FROM:<a@x.test>", "250 Ok"}, // no SIZE: the server did not offer it
			{"RCPT TO:<b@y.test>", "250 Ok"},
			{"DATA", "354 go ahead"},
		} {
			if got := readLine(t, r); got != step.want {
				t.Errorf("got %q, want %q", got, step.want)
			}
			if r.Buffered() > 0 {
				t.Errorf("after %q the client sent more before the reply (no PIPELINING offered)", step.want)
			}
			io.WriteString(w, step.reply+"\r\n")
		}
		readContent(t, r)
		io.WriteString(w, "250 queued\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Send(context.Background(), "a@x.test", "b@y.test", 42, strings.NewReader("x\r\n"))
	if err != nil || reply.Code != 250 || reply.Message != "queued" {
		t.Fatalf("Send = %+v, %v", reply, err)
	}
}

func TestRefusedRecipientEndsTheTransactionAndKeepsTheSession(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING", "ENHANCEDSTATUSCODES")
		readLine(t, r)
		readLine(t, r)
		readLine(t, r)
		// A server that takes DATA although it refused the only recipient:
		// the client must end the content at once (RFC 2920 section 3.1).
		io.WriteString(w, "250 2.1.0 Ok\r\n550-5.1.1 no such user\r\n550 5.1.1 here\r\n354 go on\r\n")
		if got := readContent(t, r); got != "" {
			t.Errorf("content after a refused recipient: %q", got)
		}
		io.WriteString(w, "554 5.5.1 no valid recipients\r\n")
		if got := readLine(t, r); got != "RSET" {
			t.Errorf("got %q, want RSET", got)
		}
		io.WriteString(w, "250 2.0.0 Ok\r\n")
		readLine(t, r)
		readLine(t, r)
		readLine(t, r)
		io.WriteString(w, "250 Ok\r\n250 Ok\r\n354 go\r\n")
		readContent(t, r)
		io.WriteString(w, "250 2.0.0 queued\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "a@x.test", "nobody@y.test", 0, strings.NewReader("secret\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Command != "RCPT" || se.Code != 550 || se.Enhanced != "5.1.1" || !se.Permanent() {
		t.Fatalf("err = %#v, want the RCPT refusal 550 5.1.1", err)
	}
	if se.Message != "no such user\nhere" {
		t.Errorf("message = %q", se.Message)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n")); err != nil {
		t.Fatalf("second transaction on the same session: %v", err)
	}
}

func TestTemporaryMailRefusal(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING")
		readLine(t, r)
		readLine(t, r)
		readLine(t, r)
		io.WriteString(w, "451 4.3.0 try later\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no RCPT\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Command != "MAIL" || se.Code != 451 || se.Permanent() {
		t.Fatalf("err = %v, want MAIL 451 (the follow-up 503s are not the cause)", err)
	}
}

// A server that refuses MAIL with 421 and hangs up: the 421 is the error
// (temporary), and the session is not used again.
func TestRefusalThenHangUp(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING")
		readLine(t, r)
		io.WriteString(w, "421 4.3.2 shutting down\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n"))
	var se *Error
	if !errors.As(err, &se) || se.Code != 421 || se.Permanent() {
		t.Fatalf("err = %v, want the 421", err)
	}
	if err := c.Reset(); err == nil {
		t.Error("RSET on a session the server closed with 421")
	}
}

func TestStaleKeptConnection(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING")
		// The server's idle timeout: it closes without a word.
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n"))
	var st *StaleError
	if !errors.As(err, &st) {
		t.Fatalf("err = %v, want a StaleError", err)
	}
	if _, err := c.Send(context.Background(), "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n")); err == nil {
		t.Fatal("a broken session sent again")
	}
}

func TestMalformedReplies(t *testing.T) {
	for name, greeting := range map[string]string{
		"no code":       "hello\r\n",
		"code too big":  "999 what\r\n",
		"mixed codes":   "220-a\r\n250 b\r\n",
		"endless line":  "220 " + strings.Repeat("x", 5000) + "\r\n",
		"endless reply": strings.Repeat("220-x\r\n", 200) + "220 x\r\n",
		"refused":       "554 5.7.1 go away\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := scripted(t, func(r *bufio.Reader, w net.Conn) { io.WriteString(w, greeting) })
			if err == nil {
				t.Fatal("session opened")
			}
			t.Log(err)
		})
	}
}

func TestHELOWhenEHLOIsRefused(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		io.WriteString(w, "220 old.test\r\n")
		readLine(t, r)
		io.WriteString(w, "502 what is EHLO\r\n")
		if got := readLine(t, r); got != "HELO parley.test" {
			t.Errorf("got %q", got)
		}
		io.WriteString(w, "250 old.test\r\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("PIPELINING"); ok {
		t.Error("extensions after HELO")
	}
}

func TestLineBreakInAddressRefused(t *testing.T) {
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING")
		r.ReadString('\n') // anything sent would show here; the test checks the error only
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"b@y.test>\r\nRCPT TO:<evil@z.test", "b@y.test\nx", "a b@y.test"} {
		if _, err := c.Send(context.Background(), "a@x.test", to, 0, strings.NewReader("x\r\n")); err == nil {
			t.Errorf("address %q accepted", to)
		}
	}
	c.Close()
}

func TestContextEndsAWaitForAReply(t *testing.T) {
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	c, err := scripted(t, func(r *bufio.Reader, w net.Conn) {
		greet(t, r, w, "PIPELINING")
		readLine(t, r)
		cancel()  // the client waits for the MAIL reply now
		<-release // never answers MAIL
	})
	defer close(release)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Send(ctx, "a@x.test", "b@y.test", 0, strings.NewReader("x\r\n"))
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send returned after %s, not at the cancel", d)
	}
	var st *StaleError
	if errors.As(err, &st) {
		t.Errorf("a cancelled wait reported as a stale connection: %v", err)
	}
}

// goSink is a go-smtp server that keeps what it receives.
type goSink struct {
	mu    sync.Mutex
	mails []string
	auth  string
}

func (s *goSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &goSession{s: s}, nil }

type goSession struct {
	s        *goSink
	from, to string
}

func (g *goSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (g *goSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "parley" || pass != "s3cret" {
			return errors.New("bad password")
		}
		g.s.mu.Lock()
		g.s.auth = user
		g.s.mu.Unlock()
		return nil
	}), nil
}
func (g *goSession) Mail(from string, _ *smtp.MailOptions) error { g.from = from; return nil }
func (g *goSession) Rcpt(to string, _ *smtp.RcptOptions) error   { g.to = to; return nil }
func (g *goSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	g.s.mu.Lock()
	g.s.mails = append(g.s.mails, g.from+" "+g.to+" "+string(b))
	g.s.mu.Unlock()
	return nil
}
func (g *goSession) Reset()        {}
func (g *goSession) Logout() error { return nil }

func TestGoSMTPServerStartTLSAuthAndManyTransactions(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sink := &goSink{}
	srv := smtp.NewServer(sink)
	srv.Domain = "sink.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(conn, Options{Hostname: "parley.test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth("parley", "s3cret"); err == nil {
		t.Fatal("go-smtp offered AUTH before TLS")
	}
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if !c.TLS() {
		t.Fatal("not TLS after STARTTLS")
	}
	if err := c.Auth("parley", "wrong"); err == nil {
		t.Fatal("a wrong password accepted")
	} else if se := (*Error)(nil); !errors.As(err, &se) || se.Command != "AUTH" {
		t.Fatalf("wrong password: %v, want the server's refusal", err)
	}
	if err := c.Auth("parley", "s3cret"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		body := "Subject: n\r\n\r\n.\r\n..\r\nend\r\n"
		if _, err := c.Send(context.Background(), "relay@disputes.test", "shop@example.test", int64(len(body)), strings.NewReader(body)); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.mails) != 20 || sink.auth != "parley" {
		t.Fatalf("sink got %d mails, auth %q", len(sink.mails), sink.auth)
	}
	if want := "relay@disputes.test shop@example.test Subject: n\r\n\r\n.\r\n..\r\nend\r\n"; sink.mails[19] != want {
		t.Errorf("mail = %q, want %q", sink.mails[19], want)
	}
	if !bytes.Contains([]byte(sink.mails[0]), []byte("\r\n.\r\n")) {
		t.Error("a lone dot line did not survive dot-stuffing")
	}
}
