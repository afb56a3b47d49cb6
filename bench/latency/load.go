package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"parley/bench/internal/benchd"
)

// options are what one measurement runs with.
type options struct {
	Parley     string        // the parley binary
	Work       string        // folder for the daemon's data and log
	Rate       float64       // offered messages per second
	Duration   time.Duration // how long they are offered
	Clients    int           // concurrent SMTP sessions
	Size       int           // bytes per message
	PerSession int           // messages per session before a new connection
	Drain      time.Duration // after the offer, a relay still missing when the sink was idle this long is lost
	DrainMax   time.Duration // and at the most this long after the offer
	Settle     time.Duration // after every relay arrived, how long duplicates are waited for
	NoIMAP     bool          // the daemon runs without IMAP
	Config     string        // a configuration file for the daemon; "" for the embedded default
	Profile    string        // if set, a CPU profile of the daemon over the middle of the offer goes here
	Trace      string        // if set, an execution trace of the daemon (2 s, mid-offer) goes here
}

func (o options) check() error {
	switch {
	case o.Rate <= 0:
		return fmt.Errorf("rate %v: want more than 0 messages a second", o.Rate)
	case o.Duration <= 0:
		return fmt.Errorf("duration %v: want more than 0", o.Duration)
	case o.Clients < 1:
		return fmt.Errorf("clients %d: want at least 1", o.Clients)
	case o.Size < 0 || o.Size > 20<<20:
		return fmt.Errorf("size %d: want 0 to 20 MiB", o.Size)
	case o.PerSession < 1:
		return fmt.Errorf("per-session %d: want at least 1", o.PerSession)
	case o.Drain <= 0 || o.DrainMax < o.Drain || o.Settle < 0:
		return fmt.Errorf("drain %v, drain-max %v, settle %v: want 0 < drain <= drain-max and settle not below 0", o.Drain, o.DrainMax, o.Settle)
	}
	if n := o.Rate * o.Duration.Seconds(); n < 1 || n > 10_000_000 {
		return fmt.Errorf("rate x duration = %.0f messages: want 1 to 10,000,000", n)
	}
	return nil
}

// sample is what happened to one offered message.
type sample struct {
	due   time.Time // when the schedule said it should leave
	start time.Time // when a client took it up (before connecting or RSET)
	data  time.Time // when DATA was sent
	ack   time.Time // when the 250 after the message was read
	acked bool
	err   error // why it was not acked
}

// measure starts the daemon, opens a case, offers the load and waits for the
// relays; the figures come back in a result.
func measure(ctx context.Context, opt options, logf func(string, ...any)) (*result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	clock := time.Now
	load0 := loadAvg()
	snk, err := startSink(clock)
	if err != nil {
		return nil, err
	}
	defer snk.close()
	d, err := benchd.Start(ctx, benchd.Options{Bin: opt.Parley, Dir: opt.Work, Smarthost: snk.addr, NoIMAP: opt.NoIMAP, Config: opt.Config})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if err := d.Admin(ctx, "trader", "add", "--handle", "acme", "--name", "Acme Shop", "--email", trader, "--lang", "en"); err != nil {
		return nil, err
	}
	caseAddr, err := openCase(ctx, d.SMTPAddr, snk)
	if err != nil {
		return nil, fmt.Errorf("%w (daemon log: %s)", err, filepath.Join(opt.Work, "parley.log"))
	}
	n := int(opt.Rate * opt.Duration.Seconds())
	logf("case open, trader writes to %s; offering %d messages of %d bytes at %.0f/s from %d clients", caseAddr, n, opt.Size, opt.Rate, opt.Clients)

	samples := make([]sample, n)
	t0 := clock().Add(50 * time.Millisecond)
	for i := range samples {
		samples[i].due = t0.Add(time.Duration(float64(i) * float64(time.Second) / opt.Rate))
	}
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	body := padding(opt.Size)
	for c := 0; c < opt.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{addr: d.SMTPAddr, rcpt: caseAddr, perSession: opt.PerSession, clock: clock}
			defer cl.close()
			for i := range jobs {
				s := &samples[i]
				s.start = clock()
				s.data, s.ack, s.err = cl.send(message(caseAddr, i, body, opt.Size))
				s.acked = s.err == nil
			}
		}()
	}
	profiled := profile(ctx, d, opt, logf)
	schedule(ctx, samples, jobs, clock)
	wg.Wait()
	profiled.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	acked := make([]bool, n)
	for i := range samples {
		acked[i] = samples[i].acked
	}
	logf("offer done; waiting for the %d relays still missing while they keep coming (until %v without any, at most %v)",
		snk.missing(acked), opt.Drain, opt.DrainMax)
	drain(ctx, snk, acked, opt.Drain, opt.DrainMax, opt.Settle)
	arrivals, stray := snk.snapshot()
	r := summarise(opt, samples, arrivals, stray, load0, loadAvg())
	pid := d.Pid()
	r.DaemonCPU, r.ToolCPU = benchd.CPUSeconds(strconv.Itoa(pid)), benchd.CPUSeconds("self")
	r.DaemonPeakRSS = benchd.ReadMemory(pid).Peak
	return r, nil
}

// schedule hands message i to the clients at its due time, never later
// because the clients are busy: jobs holds every message, so a busy moment
// leaves messages waiting in it (and counted late), not a slower schedule.
func schedule(ctx context.Context, samples []sample, jobs chan<- int, clock func() time.Time) {
	defer close(jobs)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range samples {
		if wait := samples[i].due.Sub(clock()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		jobs <- i
	}
}

// drain waits until every acked message has a relay (then settle longer for
// duplicates), or until the sink has had nothing for idle, or max passed:
// a daemon that is behind but still relaying is waited for, so only what it
// really dropped counts as lost.
func drain(ctx context.Context, snk *sink, acked []bool, idle, max, settle time.Duration) {
	quiet := time.NewTimer(idle)
	defer quiet.Stop()
	end := time.NewTimer(max)
	defer end.Stop()
	for snk.missing(acked) > 0 {
		select {
		case <-snk.changed:
			quiet.Reset(idle)
		case <-quiet.C:
			return
		case <-end.C:
			return
		case <-ctx.Done():
			return
		}
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
	}
}

// openCase sends the consumer's complaint and waits for the trader's notice,
// whose Reply-To is the address trader replies go to.
func openCase(ctx context.Context, smtpAddr string, snk *sink) (string, error) {
	raw := fmt.Sprintf("From: Jan Jansen <%s>\r\nTo: acme@%s\r\nSubject: Order 4711 never arrived\r\nDate: %s\r\nMessage-ID: <complaint-%d@consumer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"I paid for order 4711 three weeks ago and it never arrived. I want my money back.\r\n",
		consumer, benchd.Domain, time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	cl := &client{addr: smtpAddr, rcpt: "acme@" + benchd.Domain, from: consumer, perSession: 1, clock: time.Now}
	defer cl.close()
	if _, _, err := cl.send([]byte(raw)); err != nil {
		return "", fmt.Errorf("complaint: %w", err)
	}
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for {
		if a := snk.traderReplyTo(); a != "" {
			return a, nil
		}
		select {
		case <-snk.changed:
		case <-timeout.C:
			return "", errors.New("no notice to the trader reached the sink within 60 s of the complaint")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// client is one SMTP session kept open for several messages, as
// smtp-source does: MAIL, RCPT, DATA, then RSET before the next message.
type client struct {
	addr, rcpt, from string
	perSession       int
	clock            func() time.Time
	c                *smtp.Client
	sent             int // messages in this session
}

// send delivers raw and returns when DATA was sent and when its 250 came.
// After an error the session is dropped; the next send connects again.
func (cl *client) send(raw []byte) (data, ack time.Time, err error) {
	if err := cl.begin(); err != nil {
		cl.close()
		return data, ack, err
	}
	from := cl.from
	if from == "" {
		from = trader
	}
	data, ack, err = cl.transaction(from, raw)
	if err != nil {
		cl.close()
		return data, ack, err
	}
	cl.sent++
	if cl.sent >= cl.perSession {
		cl.c.Quit()
		cl.close()
	}
	return data, ack, nil
}

// begin connects, or resets the open session for the next message.
func (cl *client) begin() error {
	if cl.c != nil {
		if err := cl.c.Reset(); err != nil {
			return fmt.Errorf("RSET: %w", err)
		}
		return nil
	}
	c, err := smtp.Dial(cl.addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cl.addr, err)
	}
	c.CommandTimeout = 2 * time.Minute
	c.SubmissionTimeout = 2 * time.Minute
	cl.c, cl.sent = c, 0
	if err := c.Hello("latency.localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	return nil
}

func (cl *client) transaction(from string, raw []byte) (data, ack time.Time, err error) {
	if err := cl.c.Mail(from, nil); err != nil {
		return data, ack, fmt.Errorf("MAIL: %w", err)
	}
	if err := cl.c.Rcpt(cl.rcpt, nil); err != nil {
		return data, ack, fmt.Errorf("RCPT: %w", err)
	}
	data = cl.clock()
	w, err := cl.c.Data()
	if err != nil {
		return data, ack, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return data, ack, fmt.Errorf("message: %w", err)
	}
	if err := w.Close(); err != nil {
		return data, ack, fmt.Errorf("end of DATA: %w", err)
	}
	return data, cl.clock(), nil
}

func (cl *client) close() {
	if cl.c != nil {
		cl.c.Close()
		cl.c = nil
	}
}

// message is trader reply number i, about size bytes: the marker on a line
// of its own near the top, then lines of body.
func message(caseAddr string, i int, body []byte, size int) []byte {
	head := fmt.Sprintf("From: Acme Shop <%s>\r\nTo: %s\r\nSubject: Re: Order 4711 never arrived\r\nDate: %s\r\nMessage-ID: <latency-%d-%d@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"We looked into it again (%s%0*d).\r\n\r\n",
		trader, caseAddr, time.Now().Format(time.RFC1123Z), i, time.Now().UnixNano(), markerPrefix, markerDigits, i)
	raw := make([]byte, 0, max(size, len(head)+2))
	raw = append(raw, head...)
	// body is whole lines; cut it at the last line end that fits.
	rest := body[:max(0, min(len(body), size-len(raw)))]
	if j := bytes.LastIndex(rest, []byte("\r\n")); j >= 0 {
		raw = append(raw, rest[:j+2]...)
	}
	return raw
}

// padding is size bytes of whole lines of plain English text.
func padding(size int) []byte {
	lines := []string{
		"The parcel for order 4711 left our warehouse on the third of March with the carrier.",
		"Their tracking shows it reached the local depot two days later and was then held there.",
		"We have asked the carrier to trace it and to tell us where it is now.",
		"If it cannot be found by Friday we will send a new kettle or refund the full amount.",
		"Please tell us which of the two you would prefer, and we will arrange it at once.",
	}
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		b.WriteString(lines[i%len(lines)])
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// loadAvg is the first three fields of /proc/loadavg, or "" where there is none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
