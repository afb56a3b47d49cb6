package e2e

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// A full disk, for real: the data folder on a small tmpfs (mount needs root,
// as CI has). Mail accepted with room for itself but not for its relay is
// relayed once space returns, in order, without a restart; below the margin
// new mail is deferred with 452 4.3.1 and accepted again later.
func TestDiskFullHealsWithoutRestart(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("mount tmpfs needs root: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	s := newSink(t)
	s.Start()
	// A margin smaller than a relay needs, so the processing of accepted
	// mail meets the full disk (the default, four largest messages, is
	// meant to prevent exactly that).
	d := newDaemonWithConfig(t, s.addr, "[smtp]\nmax_message_size = \"4MiB\"\nmin_free_space = \"1MiB\"")
	d.dataDir = filepath.Join(mnt, "data")
	d.Start()
	d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "en")
	e := &env{t: t, sink: s, d: d}
	oc := e.openCase("Jan Jansen", "jan.jansen@consumer.example")

	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * int64(st.Bsize)
	}
	ballast := filepath.Join(mnt, "ballast")
	fill := func(leave int64) {
		f, err := os.OpenFile(ballast, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for free() > leave+int64(len(chunk)) {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
	}
	reply := func(marker string, seed int64) []byte {
		data := make([]byte, 600<<10)
		rand.New(rand.NewSource(seed)).Read(data)
		return e.traderReply(oc, "", []header{{"Content-Type", "multipart/mixed; boundary=B"}},
			"--B\nContent-Type: text/plain\n\nOur answer "+marker+".\n"+attachmentPart("B", "credit-note.pdf", "application/pdf", data)+"--B--\n")
	}
	send := func(marker string, seed int64) error {
		return sendMail(d.smtpAddr, traderEmail, []string{oc.TraderAddr}, reply(marker, seed))
	}

	fill(1900 << 10)
	t.Logf("free before: %d KiB", free()>>10)
	var accepted []string
	deferred := 0
	var se *gosmtp.SMTPError
	for i := 0; i < 4; i++ {
		marker := fmt.Sprintf("REPLY-%d-%s", i, token())
		err := send(marker, int64(i))
		switch {
		case err == nil:
			accepted = append(accepted, marker)
		case errors.As(err, &se) && se.Code == 452 && se.EnhancedCode == gosmtp.EnhancedCode{4, 3, 1}:
			deferred++
		default:
			t.Logf("reply %d: %v", i, err)
		}
	}
	t.Logf("with %d KiB free: %d accepted, %d deferred with 452 4.3.1", free()>>10, len(accepted), deferred)
	if len(accepted) == 0 || deferred == 0 {
		t.Fatalf("want some mail accepted and the rest deferred, got %d and %d", len(accepted), deferred)
	}
	time.Sleep(2 * time.Second) // let the workers meet the full disk (no deadline depends on it)
	if got := len(s.Matching(func(m *sinkMsg) bool { return m.To(oc.ConsumerEmail) && strings.Contains(m.Text, "REPLY-") })); got == len(accepted) {
		t.Logf("note: every accepted reply was relayed before space ran out")
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	later := "REPLY-later-" + token()
	if err := send(later, 99); err != nil {
		t.Fatalf("with room again: %v", err)
	}
	accepted = append(accepted, later)
	last := -1
	for _, marker := range accepted {
		m := s.WaitFor(60*time.Second, "relay of "+marker, isRelayTo(oc, marker))
		if m.Seq < last {
			t.Errorf("%s relayed out of order (#%d after #%d)", marker, m.Seq, last)
		}
		last = m.Seq
	}
	if log, _ := os.ReadFile(d.logPath); true {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "no space left on device") {
				t.Logf("%.300s", line)
			}
		}
	}
	if d.starts != 1 {
		t.Errorf("the daemon was started %d times", d.starts)
	}
	if !d.running() {
		t.Fatal("the daemon stopped")
	}
}
