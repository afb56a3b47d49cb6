// Package benchd starts and stops the `parley serve` process the benchmark
// drivers under bench/ measure (default configuration, loopback listeners),
// runs the parley CLI on its data folder, and reads its memory and CPU use
// from /proc.
package benchd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"parley/metrics"
	"parley/porttest"
)

// Domain is the mail domain the daemon is started with.
const Domain = "disputes.localhost"

// Options say how to start the daemon.
type Options struct {
	Bin       string // the parley binary
	Dir       string // the work folder: data in Dir/data (kept if there), log in Dir/parley.log
	Smarthost string // host:port the daemon relays through
	// Ready bounds the wait for the SMTP greeting; zero means 30 s.
	Ready time.Duration
	// NoIMAP starts the daemon without its IMAP listener (so without the
	// IMAP index); IMAPAddr is then empty.
	NoIMAP bool
	// Config is a configuration file for the daemon ("" for the embedded
	// default); the addresses above override its own.
	Config string
}

// Daemon is one `parley serve` process with the default configuration.
type Daemon struct {
	Bin, Dir                        string
	SMTPAddr, IMAPAddr, MetricsAddr string
	Started                         time.Time // when the process was started
	Greeted                         time.Time // when it first answered 220
	cmd                             *exec.Cmd
	done                            chan struct{}
	logf                            *os.File
}

// DataDir is the daemon's data folder.
func (d *Daemon) DataDir() string { return DataDir(d.Dir) }

// DataDir is the data folder the daemon of work folder dir uses.
func DataDir(dir string) string { return filepath.Join(dir, "data") }

// Pid is the daemon's process id.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Start runs the daemon and waits for its SMTP greeting.
// A port found free can be taken by another process before the daemon
// binds it (tests run in parallel); Start then tries again with new ports.
func Start(ctx context.Context, opt Options) (*Daemon, error) {
	for attempt := 1; ; attempt++ {
		d, err := start(ctx, opt)
		var taken *portTaken
		if !errors.As(err, &taken) || attempt == 3 {
			return d, err
		}
	}
}

// portTaken is a start that failed because a listening address was in use.
type portTaken struct{ err error }

func (p *portTaken) Error() string { return p.err.Error() }

func start(ctx context.Context, opt Options) (*Daemon, error) {
	if opt.Ready <= 0 {
		opt.Ready = 30 * time.Second
	}
	var addrs [4]string
	for i := range addrs {
		a, err := porttest.Free()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	logf, err := os.OpenFile(filepath.Join(opt.Dir, "parley.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon log: %w", err)
	}
	var logStart int64
	if fi, err := logf.Stat(); err == nil {
		logStart = fi.Size()
	}
	d := &Daemon{Bin: opt.Bin, Dir: opt.Dir, SMTPAddr: addrs[0], IMAPAddr: addrs[1], MetricsAddr: addrs[3], logf: logf, done: make(chan struct{})}
	args := []string{"serve", "--data", d.DataDir(), "--domain", Domain,
		"--smtp", addrs[0], "--submission", addrs[2], "--metrics", addrs[3], "--smarthost", opt.Smarthost}
	if opt.NoIMAP && opt.Config != "" {
		logf.Close()
		return nil, fmt.Errorf("no IMAP and a configuration file: turn IMAP off in the file ([imap] listen = \"\")")
	}
	if opt.Config != "" {
		args = append(args, "--config", opt.Config)
	}
	if opt.NoIMAP {
		conf := filepath.Join(opt.Dir, "no-imap.toml")
		if err := os.WriteFile(conf, []byte("[imap]\nlisten = \"\"\n"), 0o600); err != nil {
			logf.Close()
			return nil, fmt.Errorf("daemon config: %w", err)
		}
		args = append(args, "--config", conf)
		d.IMAPAddr = ""
	} else {
		args = append(args, "--imap", addrs[1])
	}
	d.cmd = exec.Command(opt.Bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.Started = time.Now()
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s serve: %w", opt.Bin, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(opt.Ready)
	for {
		if greets(d.SMTPAddr) {
			d.Greeted = time.Now()
			return d, nil
		}
		select {
		case <-d.done:
			logf.Close()
			err := fmt.Errorf("parley serve exited at start; see %s", logf.Name())
			if tail, _ := readFrom(logf.Name(), logStart); strings.Contains(string(tail), "address already in use") {
				return nil, &portTaken{err}
			}
			return nil, err
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("parley serve did not answer on %s within %v; see %s", d.SMTPAddr, opt.Ready, logf.Name())
		}
	}
}

// greets reports whether an SMTP server answers 220 at addr.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if strings.HasPrefix(line, "220") {
		fmt.Fprintf(c, "QUIT\r\n")
		return true
	}
	return false
}

// Stop asks the daemon to end (SIGTERM) and kills it if it has not within 20 s.
func (d *Daemon) Stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	d.logf.Close()
}

// Admin runs a parley command on the daemon's data folder.
func (d *Daemon) Admin(ctx context.Context, args ...string) error {
	_, err := CLI(ctx, d.Bin, d.DataDir(), "", args...)
	return err
}

// CLI runs bin with args and --data dir, stdin as its standard input, and
// returns its standard output.
func CLI(ctx context.Context, bin, dir, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, append(args, "--data", dir)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("parley %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// readFrom reads file from offset on.
func readFrom(file string, offset int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// Metrics reads the named unlabelled metrics from the daemon's /metrics.
func (d *Daemon) Metrics(names ...string) (map[string]float64, error) {
	return ReadMetrics(d.MetricsAddr, names...)
}

// ReadMetrics reads the named unlabelled metrics from the /metrics of the
// listener at addr; a name it does not serve is missing from the map.
func ReadMetrics(addr string, names ...string) (map[string]float64, error) {
	fams, err := metrics.Scrape("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	out := map[string]float64{}
	for _, name := range names {
		if v, ok := fams.Value(name); ok {
			out[name] = v
		}
	}
	return out, nil
}
