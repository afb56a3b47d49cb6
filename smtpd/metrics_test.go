package smtpd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"parley/casestore"
	"parley/metrics"
	"parley/threading"
)

// TestMetricsCountSessionsAndMessages drives real sessions (accepted, refused
// in DATA, turned away at connect) and reads the counters they moved.
func TestMetricsCountSessionsAndMessages(t *testing.T) {
	reg := metrics.New(metrics.Options{})
	cfg := testConfig()
	cfg.MaxConnections, cfg.Metrics = 2, reg.SMTP("smtp")
	h := start(t, cfg)
	// Every slot taken: the next connection is turned away.
	hold1, hold2 := h.dial(), h.dial()
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "421") {
		t.Fatalf("third connection got %q", line)
	}
	conn.Close()
	hold1.quit()
	hold2.quit()

	small := "From: jan@example.org\r\nMessage-ID: <m1@example.org>\r\nSubject: kettle\r\n\r\nbroken\r\n"
	c := h.dial()
	c.cmd("MAIL FROM:<jan@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	c.cmd("DATA", "354")
	c.raw(small + ".\r\n")
	c.expect("250 2.0.0")
	c.quit()
	c = h.dial()
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("RCPT TO:<complaints@disputes.test>", "250")
	c.cmd("DATA", "354")
	c.raw("Subject: bare\nX: 1\r\n\r\nbody\r\n.\r\n")
	c.expect("550 5.6.0")
	c.quit()

	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"parley_smtp_sessions_total", []string{"result", "mail"}, 1},
		{"parley_smtp_sessions_total", []string{"result", "no_mail"}, 3},
		{"parley_smtp_sessions_total", []string{"result", "refused"}, 1},
		{"parley_smtp_messages_total", []string{"result", "accepted", "code_class", "2xx"}, 1},
		{"parley_smtp_messages_total", []string{"result", "rejected", "code_class", "5xx"}, 1},
		{"parley_smtp_message_size_bytes", []string{"listener", "smtp"}, 1},
		{"parley_smtp_received_bytes_total", []string{"listener", "smtp"}, float64(len(small) + len("Subject: bare\nX: 1\r\n\r\nbody\r\n"))},
	}
	f, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if v, ok := f.Value(w.name, w.labels...); !ok || v != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value)
		}
	}
}

// quit ends the session and waits for the server to close the connection,
// which it does after counting the session and freeing its slot.
func (c *client) quit() {
	c.t.Helper()
	c.cmd("QUIT", "221")
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c.r); err != nil {
		c.t.Fatalf("after QUIT: %v", err)
	}
}

// BenchmarkAccept measures the accept path (connect, EHLO, MAIL, RCPT,
// DATA, commit with fsync, 250, QUIT) with and without metrics.
func BenchmarkAccept(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", on), func(b *testing.B) {
			dir := b.TempDir()
			store, err := casestore.Open(dir, casestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			keys, err := threading.LoadOrCreateKeys(dir + "/keys")
			if err != nil {
				b.Fatal(err)
			}
			cfg := testConfig()
			if on {
				cfg.Metrics = metrics.New(metrics.Options{}).SMTP("smtp")
			}
			srv := New(cfg, store, keys, &jobSink{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l)
			defer srv.srv.Close()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					msg := fmt.Sprintf("From: jan@example.org\r\nSubject: kettle %d\r\n\r\n%s\r\n", i, strings.Repeat("broken kettle ", 200))
					c, err := smtp.Dial(l.Addr().String())
					if err == nil {
						err = c.SendMail("jan@example.org", []string{"complaints@disputes.test"}, strings.NewReader(msg))
						c.Quit()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			// CPU (server and client, this process) is steadier than wall
			// time on a shared machine: fsync waits dominate the latter.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
