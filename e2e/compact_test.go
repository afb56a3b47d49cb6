package e2e

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompactStoppedFolder: a copy a killed compaction left is no part of a
// backup. `parley compact` refuses while serve runs; on
// the stopped folder it rewrites the file, after which fsck and the case's
// event chain check, and the daemon, started again, takes the next message
// into the same case (the message and outbound numbering went on).
func TestCompactStoppedFolder(t *testing.T) {
	e := newEnv(t)
	oc := e.openCase("Jan Jansen", "jan@consumer.example")
	before, err := e.d.Case(oc.ID)
	if err != nil {
		t.Fatal(err)
	}

	// A copy left by a compaction that was killed: not part of a backup.
	leftover := filepath.Join(e.d.dataDir, "parley.db.compact")
	if err := os.WriteFile(leftover, []byte("left by a killed parley compact"), 0o600); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "b.tar")
	e.d.MustAdmin("backup", "-o", tarPath)
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if strings.Contains(h.Name, "compact") {
			t.Errorf("backup holds %s", h.Name)
		}
	}
	f.Close()

	out, err := e.d.Admin("compact")
	if err == nil || !strings.Contains(err.Error(), "parley serve runs on "+e.d.dataDir+": stop it first") {
		t.Fatalf("compact beside the running daemon: %v\n%s", err, out)
	}

	e.d.Stop()
	out, err = e.d.Admin("compact")
	if err != nil || !strings.Contains(string(out), "compacted "+e.d.dataDir+"/parley.db: ") {
		t.Fatalf("compact on the stopped folder: %v\n%s", err, out)
	}
	if out, err := e.d.Admin("fsck"); err != nil {
		t.Fatalf("fsck after compact: %v\n%s", err, out)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover copy is still there: %v", err)
	}
	if out, err := e.d.Admin("case", "verify", oc.ID); err != nil {
		t.Fatalf("case verify after compact: %v\n%s", err, out)
	}

	e.d.Start()
	raw := buildMessage([]header{{"From", "Jan <jan@consumer.example>"}, {"To", oc.ConsumerAddr}, {"Subject", "Re: order"}}, "It has still not arrived.\n")
	if err := sendMail(e.d.smtpAddr, oc.ConsumerEmail, []string{oc.ConsumerAddr}, raw); err != nil {
		t.Fatal(err)
	}
	after := e.d.WaitCase(oc.ID, 20*time.Second, "the message after compaction", func(c *caseDetail) bool {
		return len(c.Messages) == len(before.Messages)+1
	})
	last := after.Messages[len(after.Messages)-1]
	for _, m := range before.Messages {
		if m.ID >= last.ID {
			t.Errorf("message %d after compaction numbered at or below message %d from before", last.ID, m.ID)
		}
	}
}
