// Command soak runs Parley through repeated kill -9 under load, with the
// smarthost going away now and then, and reports per run what was acked,
// lost, duplicated and relayed out of order (issue "faults that heal by
// themselves"). It is driven by bench/soak.sh.
//
// One case is opened; senders post trader replies to its case address, one
// at a time each, with a marker naming sender and sequence. A reply that got
// 250 must reach the consumer (through the sink standing in for the
// smarthost) exactly once, and each sender's replies in the order they were
// acked. Optional background load: smtp-source into the intake address.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"parley/bench/internal/benchd"
	"parley/bench/internal/mailsink"
	"parley/porttest"
)

const domain = "disputes.localhost"

func main() {
	parley := flag.String("parley", "", "the parley binary")
	runs := flag.Int("runs", 30, "kill -9 cycles")
	senders := flag.Int("senders", 8, "concurrent reply senders")
	minRun := flag.Duration("min-run", 1500*time.Millisecond, "shortest time between start and kill")
	maxRun := flag.Duration("max-run", 4*time.Second, "longest time between start and kill")
	outageEvery := flag.Int("outage-every", 5, "stop the smarthost during every Nth run (0: never)")
	workers := flag.Int("workers", 0, "the daemon's [procedure] workers (0: its default); 1 puts the case and the intake load on one worker")
	work := flag.String("work", "", "work folder (default: a new temporary one)")
	flag.Parse()
	if *parley == "" {
		log.Fatal("soak: -parley is required")
	}
	if *work == "" {
		d, err := os.MkdirTemp("", "parley-soak-")
		if err != nil {
			log.Fatal(err)
		}
		*work = d
	}
	s := newSink()
	s.start()
	d := &daemon{bin: *parley, dir: *work, sink: s.addr, workers: *workers}
	d.init()
	d.start()
	d.admin("trader", "add", "--handle", "acme", "--name", "Acme Shop", "--email", "support@acme.example", "--lang", "en")
	caseAddr := openCase(d, s)
	log.Printf("case open; trader writes to %s", caseAddr)

	st := &stats{acked: map[string]int{}}
	seq := make([]int, *senders)        // per sender, next sequence number
	pending := make([][]byte, *senders) // per sender, the message not acked yet
	for run := 1; run <= *runs; run++ {
		if !d.running() {
			d.start()
		}
		stopLoad := startSourceLoad(d)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < *senders; i++ {
			wg.Add(1)
			go func(sender int) {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					marker := fmt.Sprintf("SOAK-%02d-%06d", sender, seq[sender])
					// A message not acked is sent again byte for byte, as
					// an MTA's queue retries it: its 250 may have been lost
					// after the commit, and the same Message-ID and content
					// let Parley recognise the copy.
					if pending[sender] == nil {
						pending[sender] = replyMessage(caseAddr, marker)
					}
					if err := send(d.smtpAddr, "support@acme.example", caseAddr, pending[sender]); err == nil {
						st.ack(marker, run)
						seq[sender]++
						pending[sender] = nil
					} else {
						time.Sleep(50 * time.Millisecond)
					}
				}
			}(i)
		}
		outage := *outageEvery > 0 && run%*outageEvery == 0
		if outage {
			time.Sleep(*minRun / 2)
			s.stop()
		}
		time.Sleep(*minRun + time.Duration(rand.Int63n(int64(*maxRun-*minRun)+1)))
		d.kill()
		close(stop)
		wg.Wait()
		stopLoad()
		if outage {
			s.start()
		}
		log.Printf("run %d: killed; %d replies acked so far", run, st.total())
	}
	d.start()
	log.Printf("waiting for every acked reply to be relayed")
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) && len(s.missing(st)) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	// The background complaints too: every accepted one handled, every
	// notice delivered. A backlog that does not drain here is work the
	// kills kept undoing.
	waited := time.Now()
	backlog := d.backlog()
	for time.Now().Before(deadline) && backlog != 0 {
		time.Sleep(500 * time.Millisecond)
		backlog = d.backlog()
	}
	d.stop()
	if backlog == 0 {
		fmt.Printf("backlog (jobs and outbound queue) drained %.1f s after the replies\n", time.Since(waited).Seconds())
	} else {
		fmt.Printf("backlog not drained at the end: %d jobs and queued deliveries (-1: metrics unreadable)\n", backlog)
	}
	report(st, s, *runs)
	if backlog != 0 {
		os.Exit(1)
	}
}

// ---------------------------------------------------------------------------
// The daemon

type daemon struct {
	bin, dir, sink string
	workers        int
	smtpAddr       string
	metricsAddr    string
	cfg            string
	cmd            *exec.Cmd
	done           chan struct{}
	logf           *os.File
}

func freeAddr() string {
	addr, err := porttest.Free()
	if err != nil {
		log.Fatal(err)
	}
	return addr
}

func (d *daemon) init() {
	d.smtpAddr, d.metricsAddr = freeAddr(), freeAddr()
	d.cfg = filepath.Join(d.dir, "parley.toml")
	cfg := fmt.Sprintf("[imap]\nlisten = %q\n[submission]\nlisten = %q\n[metrics]\nlisten = %q\n[outbound]\nmin_backoff = \"200ms\"\nmax_backoff = \"2s\"\n", freeAddr(), freeAddr(), d.metricsAddr)
	if d.workers > 0 {
		cfg += fmt.Sprintf("[procedure]\nworkers = %d\n", d.workers)
	}
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(filepath.Join(d.dir, "parley.log"))
	if err != nil {
		log.Fatal(err)
	}
	d.logf = f
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

func (d *daemon) start() {
	d.cmd = exec.Command(d.bin, "serve", "--data", filepath.Join(d.dir, "data"), "--smtp", d.smtpAddr, "--smarthost", d.sink, "--domain", domain, "--config", d.cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	if err := d.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	d.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(d.cmd, d.done)
	for i := 0; i < 400; i++ {
		if c, err := net.DialTimeout("tcp", d.smtpAddr, 100*time.Millisecond); err == nil {
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("parley did not start; see %s", d.logf.Name())
}

// backlog is the jobs pending plus the deliveries queued, from the
// daemon's metrics; -1 when they cannot be read.
func (d *daemon) backlog() int {
	names := []string{"parley_procedure_jobs_pending", "parley_outbound_queue_messages"}
	m, err := benchd.ReadMetrics(d.metricsAddr, names...)
	if err != nil || len(m) != len(names) {
		return -1
	}
	n := 0
	for _, name := range names {
		n += int(m[name])
	}
	return n
}

func (d *daemon) kill() { d.cmd.Process.Signal(syscall.SIGKILL); <-d.done }

func (d *daemon) stop() { d.cmd.Process.Signal(syscall.SIGTERM); <-d.done }

func (d *daemon) admin(args ...string) {
	cmd := exec.Command(d.bin, append(args, "--data", filepath.Join(d.dir, "data"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("parley %v: %v %s", args, err, out)
	}
}

// startSourceLoad runs smtp-source (Postfix) into the intake address for
// background load, if it is installed; the returned function stops it.
func startSourceLoad(d *daemon) func() {
	bin, err := exec.LookPath("smtp-source")
	if err != nil {
		return func() {}
	}
	cmd := exec.Command(bin, "-c", "-s", "2", "-l", "2048", "-m", "1000000", "-f", "load@consumer.example", "-t", "acme@"+domain, d.smtpAddr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return func() {}
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }
}

// ---------------------------------------------------------------------------
// Mail

func send(addr, from, to string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("soak.example"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func message(from, to, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@soak.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), rand.Int63(), strings.ReplaceAll(body, "\n", "\r\n")))
}

func openCase(d *daemon, s *sink) string {
	raw := message("Jan Jansen <jan@consumer.example>", "acme@"+domain, "Order 4711 never arrived",
		"I paid for order 4711 three weeks ago and it never arrived. I want my money back.")
	if err := send(d.smtpAddr, "jan@consumer.example", "acme@"+domain, raw); err != nil {
		log.Fatalf("complaint: %v", err)
	}
	for i := 0; i < 400; i++ {
		if addr := s.traderReplyTo(); addr != "" {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatal("no trader notice")
	return ""
}

func replyMessage(caseAddr, marker string) []byte {
	return message("Acme Shop <support@acme.example>", caseAddr, "Re: your complaint", "We looked into it. "+marker+"\n")
}

// ---------------------------------------------------------------------------
// The sink (the smarthost)

type sink struct {
	addr          string
	srv           *mailsink.Sink
	mu            sync.Mutex
	seen          map[string][]int // marker -> arrival numbers
	n             int
	noticeReplyTo string
	// The consumer's thread: Parley threads each relay on the one before
	// (In-Reply-To), which gives the order it made them in.
	inReplyTo map[string]string // Message-ID -> In-Reply-To
	msgOf     map[string]string // marker -> Message-ID of its relay
}

var markerRE = regexp.MustCompile(`SOAK-\d{2}-\d{6}`)

func newSink() *sink {
	return &sink{addr: freeAddr(), seen: map[string][]int{}, inReplyTo: map[string]string{}, msgOf: map[string]string{}}
}

// depth is the place of a message in the consumer's thread.
func (s *sink) depth(id string, memo map[string]int) int {
	if d, ok := memo[id]; ok {
		return d
	}
	memo[id] = 0 // a loop (none expected) ends here
	d := 0
	if parent, ok := s.inReplyTo[id]; ok && parent != "" {
		d = s.depth(parent, memo) + 1
	}
	memo[id] = d
	return d
}

func (s *sink) start() {
	srv, _, err := mailsink.Listen(s.addr, s.deliver)
	if err != nil {
		log.Fatal(err)
	}
	s.srv = srv
}

func (s *sink) stop() { s.srv.Close() }

// deliver takes one message the daemon relayed.
func (s *sink) deliver(rcpts []string, raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	toConsumer := false
	for _, rc := range rcpts {
		if rc == "jan@consumer.example" {
			toConsumer = true
		}
		if rc == "support@acme.example" && s.noticeReplyTo == "" {
			if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				if a, err := mail.ParseAddress(m.Header.Get("Reply-To")); err == nil {
					s.noticeReplyTo = a.Address
				}
			}
		}
	}
	if toConsumer {
		var id string
		if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
			id = strings.TrimSpace(m.Header.Get("Message-Id"))
			s.inReplyTo[id] = strings.TrimSpace(m.Header.Get("In-Reply-To"))
		}
		for _, mk := range markerRE.FindAllString(string(raw), -1) {
			s.seen[mk] = append(s.seen[mk], s.n)
			s.msgOf[mk] = id
		}
	}
}

func (s *sink) traderReplyTo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noticeReplyTo
}

func (s *sink) missing(st *stats) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for mk := range st.acked {
		if len(s.seen[mk]) == 0 {
			out = append(out, mk)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The figures

type stats struct {
	mu    sync.Mutex
	acked map[string]int // marker -> run
}

func (st *stats) ack(marker string, run int) {
	st.mu.Lock()
	st.acked[marker] = run
	st.mu.Unlock()
}

func (st *stats) total() int { st.mu.Lock(); defer st.mu.Unlock(); return len(st.acked) }

func report(st *stats, s *sink, runs int) {
	type row struct{ acked, lost, dup, ooo int }
	rows := make([]row, runs+1)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Each sender waits for 250 before its next reply, so its replies must
	// sit in the consumer's thread in the order they were acked.
	last := map[string]int{}
	memo := map[string]int{}
	var markers []string
	for mk := range st.acked {
		markers = append(markers, mk)
	}
	sort.Strings(markers)
	for _, mk := range markers {
		run := st.acked[mk]
		r := &rows[run]
		r.acked++
		arr := s.seen[mk]
		switch {
		case len(arr) == 0:
			r.lost++
		case len(arr) > 1:
			r.dup += len(arr) - 1
		}
		sender := mk[:len("SOAK-00")]
		if id, ok := s.msgOf[mk]; ok {
			d := s.depth(id, memo)
			if d < last[sender] {
				r.ooo++
			}
			last[sender] = d
		}
	}
	fmt.Printf("%-5s %8s %6s %10s %12s\n", "run", "acked", "lost", "duplicated", "out-of-order")
	var tot row
	maxDup := 0
	for i := 1; i <= runs; i++ {
		r := rows[i]
		fmt.Printf("%-5d %8d %6d %10d %12d\n", i, r.acked, r.lost, r.dup, r.ooo)
		tot.acked += r.acked
		tot.lost += r.lost
		tot.dup += r.dup
		tot.ooo += r.ooo
		maxDup = max(maxDup, r.dup)
	}
	fmt.Printf("%-5s %8d %6d %10d %12d\n", "all", tot.acked, tot.lost, tot.dup, tot.ooo)
	fmt.Printf("duplicates per crash: mean %.2f, max %d, over %d kills\n", float64(tot.dup)/float64(runs), maxDup, runs)
	if tot.lost > 0 {
		os.Exit(1)
	}
}
