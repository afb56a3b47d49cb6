package procedure_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/casestore"
	"parley/config"
	"parley/evidence"
	"parley/locales"
	"parley/procedure"
	"parley/smtpd"
	"parley/templates"
	"parley/threading"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// corpus lists enmime's own test messages (from the module cache) and ours.
func corpus(t *testing.T) []string {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	if root := enmimeDir(); root != "" {
		for _, sub := range []string{"mail", "low-quality", "parts"} {
			more, _ := filepath.Glob(filepath.Join(root, "testdata", sub, "*.raw"))
			files = append(files, more...)
		}
	} else {
		t.Log("enmime module source not found; running our corpus only")
	}
	return files
}

func enmimeDir() string {
	out, err := os.ReadFile("../go.mod")
	if err != nil {
		return ""
	}
	var version string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/jhillyerd/enmime/v2" {
			version = f[1]
		}
	}
	modcache := os.Getenv("GOMODCACHE")
	if modcache == "" {
		home, _ := os.UserHomeDir()
		modcache = filepath.Join(home, "go", "pkg", "mod")
		if gp := os.Getenv("GOPATH"); gp != "" {
			modcache = filepath.Join(strings.Split(gp, ":")[0], "pkg", "mod")
		}
	}
	dir := filepath.Join(modcache, "github.com", "jhillyerd", "enmime", "v2@"+version)
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// Every message of the corpus goes through SMTP, the store and the engine:
// each is stored, processed, its attachments recorded as evidence, and
// nothing panics.
func TestCorpusThroughTheWholePath(t *testing.T) {
	dir := t.TempDir()
	store, err := casestore.Open(dir, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	keys, _ := threading.NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{9}, 32)})
	loc, _ := locales.New("en")
	tmpl, _ := templates.New(loc)
	engine := procedure.NewEngine(store, keys, tmpl, loc, procedure.Config{Domain: "d.test", Procedure: config.Default().Procedure}, log, nil)
	runner := procedure.NewRunner(engine, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); runner.Wait() }()
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	srv := smtpd.New(smtpd.Config{Domain: "d.test", Hostname: "mx.d.test", MaxMessageSize: int64(def.SMTP.MaxMessageSize), MaxRecipients: 10,
		MaxLineLength: def.SMTP.MaxLineLength, MaxHeaderSize: int(def.SMTP.MaxHeaderSize), ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, DataTimeout: 30 * time.Second, MaxConnections: 10}, store, keys, runner, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	files := corpus(t)
	if len(files) < 12 {
		t.Fatalf("corpus too small: %d", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// net/smtp turns bare LF into CRLF and dot-stuffs, as a sending MTA would.
		if err := smtp.SendMail(l.Addr().String(), nil, "jan@consumer.example", []string{"complaints@d.test"}, raw); err != nil {
			t.Errorf("%s: not accepted: %v", filepath.Base(f), err)
		}
	}
	// A bound for a stuck worker, not a timing goal: under -race on a shared
	// 2-core machine the corpus takes most of a minute.
	deadline := time.Now().Add(4 * time.Minute)
	for {
		var pending int
		store.View(func(tx *casestore.Tx) error { jobs, _ := tx.Jobs(); pending = len(jobs); return nil })
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	parser := evidence.NewParser()
	var msgs, withCase, rows int
	store.View(func(tx *casestore.Tx) error {
		for id := uint64(1); ; id++ {
			m, err := tx.Message(id)
			if err != nil {
				break
			}
			msgs++
			if !m.Processed {
				t.Errorf("message %d not processed: %s", m.ID, m.Note)
			}
			if m.CaseID == "" {
				continue
			}
			withCase++
			raw, _ := store.Raw(m.SHA256)
			want := len(parser.Parse(raw).Attachments)
			got := 0
			evs, _ := tx.CaseEvidence(m.CaseID)
			for _, e := range evs {
				if e.Message == m.ID {
					got++
					if !store.Blobs.Has(e.SHA256) {
						t.Errorf("message %d: evidence %s has no blob", m.ID, e.Name)
					}
				}
			}
			rows += got
			if got != want {
				t.Errorf("message %d (%s): %d evidence rows, %d attachments", m.ID, m.Subject, got, want)
			}
		}
		return nil
	})
	if msgs != len(files) {
		t.Errorf("%d messages stored, %d sent", msgs, len(files))
	}
	if strings.Contains(strings.ToLower(logs.String()), "panic") {
		t.Errorf("a panic was logged:\n%s", logs.String())
	}
	t.Logf("%d messages, %d in cases, %d evidence rows", msgs, withCase, rows)
}
