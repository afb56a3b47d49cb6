package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/casestore"
)

// ack is a message the daemon answered 250 to: when its transaction began
// and when the 250 came.
type ack struct {
	msgID string
	sent  time.Time
	at    time.Time
}

// A backup taken while complaints pour in over SMTP restores into a folder
// where every case verifies, fsck finds nothing wrong, a case file exports
// with its attachments, and a daemon started on it has every message
// acknowledged before the backup began (and processes those the snapshot
// caught still queued).
func TestBackupDuringIngestRestores(t *testing.T) {
	e := newEnv(t)
	// Each sender sends up to 10 messages, waits for the backup to begin,
	// then sends until it ends: mail is always arriving while it runs.
	const senders, beforeBackup = 3, 10
	var (
		mu      sync.Mutex
		acks    []ack
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		started = make(chan struct{})
		first   = make(chan struct{})
		once    sync.Once
	)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if i == beforeBackup {
					select {
					case <-started:
					case <-stop:
						return
					}
				}
				select {
				case <-stop:
					return
				default:
				}
				msgID := fmt.Sprintf("<load-%d-%d-%s@consumer.example>", s, i, token())
				raw := complaintWithAttachment(msgID, s, i)
				from := fmt.Sprintf("load%d.%d@consumer.example", s, i)
				sentAt := time.Now()
				if err := sendMail(e.d.smtpAddr, from, []string{intakeAddr}, raw); err != nil {
					t.Errorf("sender %d message %d: %v", s, i, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{msgID, sentAt, time.Now()})
				if len(acks) >= 10 {
					once.Do(func() { close(first) })
				}
				mu.Unlock()
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad() // on an early failure too: no sender outlives the test
	select {
	case <-first:
	case <-time.After(60 * time.Second):
		t.Fatal("fewer than 10 messages acknowledged in 60s")
	}
	// Some cases opened, so the snapshot holds processed cases as well as
	// messages still queued.
	if !waitUntil(60*time.Second, 200*time.Millisecond, func() bool { cs, err := e.d.Cases(); return err == nil && len(cs) >= 3 }) {
		t.Fatal("fewer than 3 cases opened in 60s")
	}

	tarball := filepath.Join(t.TempDir(), "parley-backup.tar")
	began := time.Now()
	close(started)
	out := e.d.MustAdmin("backup", "-o", tarball)
	ended := time.Now()
	took := ended.Sub(began)
	stopLoad()
	// Mail was arriving while the backup ran: a message whose SMTP
	// transaction began before the backup ended and was acknowledged after
	// it began (the senders were released just before it).
	during := 0
	for _, a := range acks {
		if a.sent.Before(ended) && a.at.After(began) {
			during++
		}
	}
	st, err := os.Stat(tarball)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d MiB in %s: %s", st.Size()>>20, took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	if during == 0 {
		t.Error("no message was in flight while the backup ran: the load did not overlap it")
	}
	var before []string
	for _, a := range acks {
		if a.at.Before(began) {
			before = append(before, a.msgID)
		}
	}
	t.Logf("%d messages acknowledged before the backup began, %d in flight while it ran, %d in all", len(before), during, len(acks))

	// Restore into the data folder of a second daemon, not yet started.
	sink2 := newSink(t)
	sink2.Start()
	d2 := newDaemon(t, sink2.addr)
	if out, err := exec.Command(parleyBin, "restore", tarball, "--data", d2.dataDir).CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	out, err = d2.Admin("fsck")
	if err != nil {
		t.Fatalf("fsck of the restored folder: %v", err)
	}
	if n := countBefore(t, string(out), "blob files"); n < 2 {
		t.Errorf("restored folder has %d blob files; the load's attachments should make many:\n%s", n, out)
	}
	cases, err := d2.Cases()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no case in the restored folder")
	}
	for _, c := range cases {
		if out, err := d2.Admin("case", "verify", c.ID); err != nil || !strings.Contains(string(out), "chain intact") {
			t.Errorf("case verify %s on the restored folder: %v %s", c.ID, err, out)
		}
	}
	// A case file from the restored folder carries its attachment intact.
	zip := filepath.Join(t.TempDir(), "case.zip")
	d2.MustAdmin("case", "export", cases[len(cases)-1].ID, "-o", zip)
	if out, err := exec.Command(parleyBin, "case", "verify-export", zip).CombinedOutput(); err != nil {
		t.Errorf("verify-export of a case from the restored folder: %v\n%s", err, out)
	}

	d2.Start()
	missing := before
	ok := waitUntil(90*time.Second, 500*time.Millisecond, func() bool {
		have := map[string]bool{}
		cs, err := d2.Cases()
		if err != nil {
			return false
		}
		for _, c := range cs {
			cd, err := d2.Case(c.ID)
			if err != nil {
				return false
			}
			for _, m := range cd.Messages {
				have[m.MessageID] = true
			}
		}
		missing = missing[:0:0]
		for _, id := range before {
			if !have[strings.Trim(id, "<>")] && !have[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		t.Fatalf("%d of %d messages acknowledged before the backup are not in a case of the restored daemon: %v", len(missing), len(before), missing)
	}
	// The cases the restored daemon opened from the queued messages verify too.
	cases, err = d2.Cases()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if out, err := d2.Admin("case", "verify", c.ID); err != nil {
			t.Errorf("case verify %s on the restored daemon: %v %s", c.ID, err, out)
		}
	}
	t.Logf("restored daemon: %d cases, all verified", len(cases))
}

// countBefore finds "N what" in out.
func countBefore(t *testing.T, out, what string) int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) ` + regexp.QuoteMeta(what)).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in %q", what, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// complaintWithAttachment is a complaint to acme with a 300 KiB attachment
// of its own (random) content, so both the raw message and the evidence are
// blobs.
func complaintWithAttachment(msgID string, s, i int) []byte {
	data := make([]byte, 300<<10)
	rand.New(rand.NewSource(int64(s*1000 + i))).Read(data)
	return buildMessage([]header{
		{"From", fmt.Sprintf("Load %d <load%d.%d@consumer.example>", i, s, i)},
		{"To", "Acme <" + intakeAddr + ">"},
		{"Subject", fmt.Sprintf("Order %d-%d never arrived", s, i)},
		{"Message-ID", msgID},
		{"Content-Type", "multipart/mixed; boundary=B"},
	}, "--B\nContent-Type: text/plain\n\nI paid for order "+strconv.Itoa(i)+" three weeks ago and it never arrived.\nPlease refund me.\n"+
		attachmentPart("B", "invoice.pdf", "application/pdf", data)+"--B--\n")
}

// attachmentPart is a base64 body part (with its leading boundary line).
func attachmentPart(boundary, name, ctype string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	fmt.Fprintf(&b, "--%s\nContent-Type: %s\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n", boundary, ctype, name)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

// restore refuses a folder that holds anything, and leaves it as it was.
func TestRestoreRefusesNonEmptyFolder(t *testing.T) {
	e := newEnv(t)
	tarball := filepath.Join(t.TempDir(), "b.tar")
	e.d.MustAdmin("backup", "-o", tarball)
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "keep.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "restore", tarball, "--data", dst)
	if code == 0 || !strings.Contains(out, "not empty") {
		t.Fatalf("restore into a non-empty folder: exit %d %s", code, out)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 1 {
		t.Errorf("folder now holds %d entries", len(ents))
	}
	// Backup into the data folder itself is refused too.
	if _, err := e.d.Admin("backup", "-o", filepath.Join(e.d.dataDir, "b.tar")); err == nil {
		t.Error("backup into the data folder accepted")
	}
}

// fsck, through the running daemon and on a stopped one: a deleted blob, an
// extra blob and a tampered event are found; --repair removes only the extra
// blob.
func TestFsckFindsAndRepairs(t *testing.T) {
	e := newEnv(t)
	oc := e.openCase("Jan Jansen", "jan@consumer.example")
	data := make([]byte, 300<<10)
	rand.New(rand.NewSource(7)).Read(data)
	raw := buildMessage([]header{{"From", "Jan <jan@consumer.example>"}, {"To", oc.ConsumerAddr}, {"Subject", "photo"}, {"Content-Type", "multipart/mixed; boundary=B"}},
		"--B\nContent-Type: text/plain\n\nHere is the photo.\n"+attachmentPart("B", "photo.jpg", "image/jpeg", data)+"--B--\n")
	if err := sendMail(e.d.smtpAddr, oc.ConsumerEmail, []string{oc.ConsumerAddr}, raw); err != nil {
		t.Fatal(err)
	}
	e.d.WaitCase(oc.ID, 20*time.Second, "evidence recorded", func(c *caseDetail) bool {
		for _, ev := range c.Events {
			if ev.Kind == "evidence" {
				return true
			}
		}
		return false
	})
	if out, err := e.d.Admin("fsck"); err != nil {
		t.Fatalf("fsck on a sound folder: %v %s", err, out)
	}

	// Delete a referenced blob (the attachment), add an unreferenced one.
	var detail struct {
		Evidence []struct {
			SHA256 string `json:"sha256"`
		} `json:"evidence"`
	}
	if err := json.Unmarshal(e.d.MustAdmin("case", "show", oc.ID, "--json"), &detail); err != nil || len(detail.Evidence) == 0 {
		t.Fatalf("case show evidence: %v %+v", err, detail)
	}
	gone := detail.Evidence[0].SHA256
	blobPath := func(sum string) string { return filepath.Join(e.d.dataDir, "blobs", sum[:2], sum) }
	if err := os.Remove(blobPath(gone)); err != nil {
		t.Fatal(err)
	}
	extra := strings.Repeat("ab", 32)
	os.MkdirAll(filepath.Dir(blobPath(extra)), 0o700)
	if err := os.WriteFile(blobPath(extra), []byte("not even matching its name"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(blobPath(extra), old, old)

	out, err := e.d.Admin("fsck", "--repair")
	if err == nil {
		t.Fatalf("fsck --repair with a missing blob exited 0:\n%s", out)
	}
	for _, want := range []string{"MISSING blob " + gone + ": absent", "REMOVED unreferenced blob " + extra} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fsck --repair through the daemon: no %q in\n%s", want, out)
		}
	}
	if _, err := os.Stat(blobPath(extra)); err == nil {
		t.Error("the unreferenced blob is still there after --repair")
	}

	// Stopped: tamper with an event in the file itself; fsck opens it read-only.
	e.d.Stop()
	tamperEvent(t, e.d.dataDir, oc.ID)
	out, err = e.d.Admin("fsck", "--repair")
	if err == nil || !strings.Contains(string(out), "BROKEN case "+oc.ID+" at event 1") || !strings.Contains(string(out), "MISSING blob "+gone) {
		t.Errorf("fsck on the stopped folder: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "REMOVED") {
		t.Errorf("--repair removed something referenced:\n%s", out)
	}
}

// tamperEvent moves the time of a case's first event in the bbolt file, as
// an edit behind Parley's back would.
func tamperEvent(t *testing.T, dataDir, caseID string) {
	t.Helper()
	store, err := casestore.Open(dataDir, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	err = store.Update(func(tx *casestore.Tx) error {
		ev, err := tx.Event(caseID, 1)
		if err != nil {
			return err
		}
		ev.Time = ev.Time.Add(-time.Hour)
		return tx.PutEvent(*ev)
	})
	if err != nil {
		t.Fatal(err)
	}
}
