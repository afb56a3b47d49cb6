package procedure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/route"
)

// withAttachment is a message from `from` with a binary attachment of n
// bytes (base64, in 76-character lines).
func withAttachment(from, text string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	return "From: " + from + "\nSubject: Re\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\n" + text +
		"\n--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"invoice.pdf\"\nContent-Transfer-Encoding: base64\n\n" +
		strings.Join(lines, "\n") + "\n--XX--\n"
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// blobFiles lists the files in the blob folder.
func blobFiles(t *testing.T, ev *env) []string {
	t.Helper()
	var out []string
	root := filepath.Dir(filepath.Dir(ev.store.Blobs.Path(strings.Repeat("0", 64))))
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "tmp") {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// Large mail (a relay with a 1 MiB attachment, the shop's notice carrying
// the complaint's 600 KiB one) goes out whole and threaded, stored before
// the transaction that queues it, with no file left over.
func TestLargeMailIsStoredBeforeItsTransaction(t *testing.T) {
	ev := newEnv(t)
	evidence := randomBytes(600<<10, 1)
	ev.deliver("jan@consumer.example", route.Intake("acme"), strings.Replace(withAttachment("jan@consumer.example",
		"I ordered a kettle (order 1234) and it arrived broken. I want my money back.", evidence), "Subject: Re", "Subject: Broken kettle", 1))
	out := ev.take()
	c := ev.onlyCase()
	var notice *sent
	for i := range out {
		if out[i].o.Role == route.Trader {
			notice = &out[i]
		}
	}
	if notice == nil || len(notice.env.Attachments) != 1 || !bytes.Equal(notice.env.Attachments[0].Content, evidence) {
		t.Fatalf("the shop's notice lacks the complaint's attachment: %s", kinds(out))
	}
	photo := randomBytes(1<<20, 2)
	ev.deliver("jan@consumer.example", route.Party(c.ID, route.Consumer), withAttachment("jan@consumer.example", "Here is the invoice.", photo))
	out = ev.take()
	if len(out) != 1 || len(out[0].env.Attachments) != 1 || !bytes.Equal(out[0].env.Attachments[0].Content, photo) {
		t.Fatalf("relay of the invoice: %s", kinds(out))
	}
	relay := out[0]
	if relay.env.GetHeader("In-Reply-To") != strings.Trim(notice.env.GetHeader("Message-Id"), " ") {
		t.Errorf("relay not threaded on the notice: In-Reply-To %q, notice %q", relay.env.GetHeader("In-Reply-To"), notice.env.GetHeader("Message-Id"))
	}
	if relay.o.MessageID != "<"+strings.Trim(relay.env.GetHeader("Message-Id"), "<>")+">" && relay.o.MessageID != relay.env.GetHeader("Message-Id") {
		t.Errorf("row's Message-ID %q, message's %q", relay.o.MessageID, relay.env.GetHeader("Message-Id"))
	}
	// Every file in the blob folder is named by a row or is evidence:
	// nothing stored for a transaction was left behind.
	isEvidence := map[string]bool{sha(evidence): true, sha(photo): true}
	files := blobFiles(t, ev)
	ev.store.View(func(tx *casestore.Tx) error {
		for _, f := range files {
			if tx.RawRefs(f) == 0 && !isEvidence[f] {
				t.Errorf("blob %s is named by no row", f)
			}
		}
		for _, o := range []casestore.Outbound{notice.o, relay.o} {
			if tx.RawRefs(o.SHA256) != 1 || !ev.store.Blobs.Has(o.SHA256) {
				t.Errorf("outbound %d (%s) is not a blob of its own", o.ID, o.Kind)
			}
		}
		return nil
	})
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// A small commit does not wait while a relay with a 9 MiB attachment (the
// default max_attachment_size is 10 MiB) is written: the
// figures are logged (go test -v -run TestCommitLatencyBehindLargeRelay).
func TestCommitLatencyBehindLargeRelay(t *testing.T) {
	// A 20 MiB relay: the limits raised from their defaults (one
	// attachment of at most 10 MiB, 15 MiB per relay) to let it through.
	limits := config.Default().Evidence
	limits.MaxAttachmentSize, limits.MaxRelaySize = 24<<20, 24<<20
	ev := newEnvConfig(t, nil, limits)
	c := openCase(t, ev)
	big := withAttachment("jan@consumer.example", "All the photos.", randomBytes(20<<20, 3))
	var (
		mu    sync.Mutex
		waits []time.Duration
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	// (The test stores the inbound message inline, unlike smtpd: before the probe.)
	job := ev.queueMessage("jan@consumer.example", route.Party(c.ID, route.Consumer), big)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			ev.store.Update(func(tx *casestore.Tx) error { return tx.PutTranslation("probe", "x", ev.now) })
			mu.Lock()
			waits = append(waits, time.Since(start))
			mu.Unlock()
		}
	}()
	start := time.Now()
	if err := ev.e.Process(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if out := ev.take(); len(out) != 1 || len(out[0].env.Attachments) != 1 {
		t.Fatalf("relay: %s", kinds(out))
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	if len(waits) == 0 {
		t.Fatal("no small commit ran")
	}
	t.Logf("relay of a 20 MiB attachment handled in %s; %d small commits meanwhile: p50 %s, p99 %s, max %s",
		took.Round(time.Millisecond), len(waits), waits[len(waits)/2], waits[len(waits)*99/100], waits[len(waits)-1])
}
