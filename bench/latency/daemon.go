package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// domain is the mail domain the daemon is started with.
const domain = "disputes.localhost"

// daemon is one `parley serve` process with the default configuration.
type daemon struct {
	bin, dir string
	smtpAddr string
	metrics  string // the metrics listener, which serves /debug/pprof
	cmd      *exec.Cmd
	done     chan struct{}
	logf     *os.File
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startDaemon runs bin serve in dir (data folder dir/data, log dir/parley.log)
// relaying through smarthost, and waits for its SMTP greeting.
func startDaemon(ctx context.Context, bin, dir, smarthost, config string) (*daemon, error) {
	var addrs [4]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	logf, err := os.OpenFile(filepath.Join(dir, "parley.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon log: %w", err)
	}
	d := &daemon{bin: bin, dir: dir, smtpAddr: addrs[0], metrics: addrs[3], logf: logf, done: make(chan struct{})}
	args := []string{"serve", "--data", filepath.Join(dir, "data"), "--domain", domain,
		"--smtp", addrs[0], "--imap", addrs[1], "--submission", addrs[2], "--metrics", addrs[3], "--smarthost", smarthost}
	if config != "" {
		args = append(args, "--config", config)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if greets(d.smtpAddr) {
			return d, nil
		}
		select {
		case <-d.done:
			logf.Close()
			return nil, fmt.Errorf("parley serve exited at start; see %s", logf.Name())
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("parley serve did not answer on %s within 30 s; see %s", d.smtpAddr, logf.Name())
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

// stop asks the daemon to end (SIGTERM) and kills it if it has not within 20 s.
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	d.logf.Close()
}

// admin runs a parley command on the daemon's data folder.
func (d *daemon) admin(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, d.bin, append(args, "--data", filepath.Join(d.dir, "data"))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("parley %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
