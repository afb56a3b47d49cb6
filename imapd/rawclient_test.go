package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawClient speaks IMAP line by line over loopback, so a test sees every
// response in the order the server sent it (go-imap's client drops RECENT and
// sorts untagged data into its own structures).
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

// raw connects and logs in as user.
func (h *harness) raw(user, password string) *rawClient {
	h.t.Helper()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: h.t, conn: conn, r: bufio.NewReader(conn)}
	if greeting := c.line(); !strings.HasPrefix(greeting, "* OK") {
		h.t.Fatalf("greeting %q", greeting)
	}
	if _, status := c.cmd("LOGIN %s %s", quote(user), quote(password)); !strings.HasPrefix(status, "OK") {
		h.t.Fatalf("LOGIN: %s", status)
	}
	return c
}

func quote(s string) string { return strconv.Quote(s) }

var literalAtEnd = regexp.MustCompile(`\{(\d+)\+?\}$`)

// line reads one response, literals included.
func (c *rawClient) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (so far %q)", err, b.String())
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := literalAtEnd.FindStringSubmatch(l)
		if m == nil {
			return b.String()
		}
		n, _ := strconv.Atoi(m[1])
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			c.t.Fatalf("read literal: %v", err)
		}
		b.Write(lit)
	}
}

// cmd sends a command and returns the untagged responses before its tagged
// one, in order, and the tagged status ("OK ...", "NO [CODE] ...").
func (c *rawClient) cmd(format string, args ...any) (untagged []string, status string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("r%d", c.n)
	if _, err := fmt.Fprintf(c.conn, "%s %s\r\n", tag, fmt.Sprintf(format, args...)); err != nil {
		c.t.Fatal(err)
	}
	for {
		l := c.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok is cmd for a command that must succeed.
func (c *rawClient) ok(format string, args ...any) []string {
	c.t.Helper()
	u, status := c.cmd(format, args...)
	if !strings.HasPrefix(status, "OK") {
		c.t.Fatalf("%s: %s", fmt.Sprintf(format, args...), status)
	}
	return u
}

// noopUntil sends NOOPs until an untagged response satisfies cond, and
// returns the responses of that NOOP.
func (c *rawClient) noopUntil(what string, cond func(string) bool) []string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u := c.ok("NOOP")
		if slices.ContainsFunc(u, cond) {
			return u
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// find returns the first response starting with prefix, or "".
func find(responses []string, prefix string) string {
	for _, r := range responses {
		if strings.HasPrefix(r, prefix) {
			return r
		}
	}
	return ""
}

// position returns the index of the first response starting with prefix, or -1.
func position(responses []string, prefix string) int {
	return slices.IndexFunc(responses, func(r string) bool { return strings.HasPrefix(r, prefix) })
}
