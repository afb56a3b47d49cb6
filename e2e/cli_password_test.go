package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"parley/casestore"
	"parley/password"
)

// promptSession runs parley on a pseudo-terminal: what it writes is read
// from the terminal's other side into out.
type promptSession struct {
	t    *testing.T
	tty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startOnTerminal(t *testing.T, args ...string) *promptSession {
	t.Helper()
	cmd := exec.Command(parleyBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("start parley on a pseudo-terminal: %v", err)
	}
	s := &promptSession{t: t, tty: tty, cmd: cmd, done: make(chan error, 1)}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 1024)
		for {
			n, err := tty.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil { // EIO once parley exits and the terminal closes
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		<-read
		s.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
	})
	return s
}

func (s *promptSession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// answer waits for prompt, then for the terminal's echo to be off (the
// program turns it off just after writing the prompt), and types line.
func (s *promptSession) answer(prompt, line string) {
	s.t.Helper()
	ok := waitUntil(10*time.Second, 5*time.Millisecond, func() bool {
		if strings.Count(s.output(), prompt) == 0 {
			return false
		}
		tio, err := unix.IoctlGetTermios(int(s.tty.Fd()), unix.TCGETS)
		return err == nil && tio.Lflag&unix.ECHO == 0
	})
	if !ok {
		s.t.Fatalf("no prompt %q with echo off within 10s; the terminal shows %q", prompt, s.output())
	}
	if _, err := io.WriteString(s.tty, line+"\r"); err != nil {
		s.t.Fatal(err)
	}
}

// wait returns the exit code and everything the terminal showed.
func (s *promptSession) wait() (int, string) {
	s.t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), s.output()
		}
		if err != nil {
			s.t.Fatal(err)
		}
		return 0, s.output()
	case <-time.After(20 * time.Second):
		s.t.Fatalf("parley did not exit; the terminal shows %q", s.output())
		return -1, ""
	}
}

func TestMediatorPasswordPromptHidesThePassword(t *testing.T) {
	_, data := initData(t)
	const pw = "correct horse battery"
	s := startOnTerminal(t, "mediator", "add", "--data", data, "--email", "mia@mediators.example", "--name", "Mia")
	s.answer("Password for mia@mediators.example: ", pw)
	s.answer("The same again: ", pw)
	code, screen := s.wait()
	if code != 0 || !strings.Contains(screen, "mediator mia@mediators.example (Mia) registered") {
		t.Fatalf("mediator add on a terminal: exit %d, screen %q", code, screen)
	}
	if strings.Contains(screen, "horse") {
		t.Fatalf("the password was echoed: %q", screen)
	}
	store, err := casestore.Open(data, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var m casestore.Mediator
	if err := store.View(func(tx *casestore.Tx) error { m, err = tx.Mediator("mia@mediators.example"); return err }); err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(pw, m.Password); !ok || err != nil {
		t.Errorf("the stored hash does not verify the typed password: %v %v", ok, err)
	}
}

func TestMediatorPasswordPromptTwiceMustMatch(t *testing.T) {
	_, data := initData(t)
	s := startOnTerminal(t, "mediator", "add", "--data", data, "--email", "mia@mediators.example", "--name", "Mia")
	s.answer("Password for mia@mediators.example: ", "first secret")
	s.answer("The same again: ", "second secret")
	code, screen := s.wait()
	if code != 1 || !strings.Contains(screen, "parley: the two passwords differ; nothing changed") || strings.Contains(screen, "secret") {
		t.Fatalf("mismatched passwords: exit %d, screen %q", code, screen)
	}
	if out, code := runCLI(t, "mediator", "list", "--data", data, "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("a mediator was registered after mismatched passwords: %d %s", code, out)
	}
}

func TestMediatorPasswordFromStandardInput(t *testing.T) {
	_, data := initData(t)
	cmd := exec.Command(parleyBin, "mediator", "add", "--data", data, "--email", "mia@mediators.example", "--name", "Mia")
	cmd.Stdin = strings.NewReader("piped secret\n")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_PASSWORD=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, code := runCmd(t, cmd); code != 0 || strings.Contains(out, "Password") || !strings.Contains(out, "registered") {
		t.Fatalf("mediator add with the password piped: exit %d %q; want no prompt", code, out)
	}
}
