package casefile_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"testing"

	"parley/casefile"
	"parley/casestore"
	"parley/config"
	"parley/locales"
	"parley/procedure"
	"parley/route"
	"parley/templates"
	"parley/threading"
)

const complaint = "From: Jan <jan@consumer.example>\r\nSubject: Kettle\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy kettle arrived broken; I want my money back.\r\n--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"photo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n--B--\r\n"

// openCase runs a complaint with an attachment through the real engine.
func openCase(t *testing.T) (*casestore.Store, *locales.Bundle, string) {
	t.Helper()
	store, err := casestore.Open(t.TempDir(), casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	loc, _ := locales.New("en")
	tmpl, _ := templates.New(loc)
	keys, _ := threading.NewKeys('a', map[byte][]byte{'a': bytes.Repeat([]byte{3}, 32)})
	e := procedure.NewEngine(store, keys, tmpl, loc, procedure.Config{Domain: "d.test", Procedure: config.Default().Procedure},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	sum := sha256.Sum256([]byte(complaint))
	var job casestore.Job
	store.Update(func(tx *casestore.Tx) error {
		tx.PutTrader(casestore.Trader{Handle: "acme", Name: "Acme", Email: "support@acme.example", Lang: "nl"})
		id, _ := tx.NextMessageID()
		m := &casestore.Message{ID: id, MailFrom: "jan@consumer.example", Target: route.Intake("acme"), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(complaint))}
		tx.PutRawInline(m.SHA256, []byte(complaint))
		tx.RefRaw(m.SHA256, 1)
		tx.PutMessage(m)
		job = casestore.Job{Kind: casestore.JobIngest, Message: id}
		return tx.AddJob(&job)
	})
	if err := e.Process(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	var cases []casestore.Case
	store.View(func(tx *casestore.Tx) (err error) { cases, err = tx.Cases(); return err })
	return store, loc, cases[0].ID
}

func export(t *testing.T, store *casestore.Store, loc *locales.Bundle, id string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (casefile.Source{Store: store, Locales: loc}).Export(id, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite copies a zip, passing each entry's bytes through change.
func rewrite(t *testing.T, data []byte, change func(name string, b []byte) []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		w, _ := zw.Create(f.Name)
		w.Write(change(f.Name, b))
	}
	zw.Close()
	return out.Bytes()
}

func TestExportVerifyRoundTrip(t *testing.T) {
	store, loc, id := openCase(t)
	data := export(t, store, loc, id)
	man, problems, err := casefile.Verify(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(problems) != 0 {
		t.Fatalf("fresh export does not verify: %v %v", err, problems)
	}
	kinds := map[string]int{}
	for _, f := range man.Files {
		kinds[f.Kind]++
	}
	if kinds["message-in"] != 1 || kinds["message-out"] != 2 || kinds["evidence"] != 1 || kinds["events"] != 1 || kinds["summary"] != 1 {
		t.Fatalf("files by kind: %v", kinds)
	}
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	for _, f := range zr.File {
		if f.Name == "summary.html" {
			r, _ := f.Open()
			b, _ := io.ReadAll(r)
			if !strings.Contains(string(b), id) || !strings.Contains(string(b), "photo.png") {
				t.Errorf("summary lacks the case or its evidence")
			}
		}
	}
}

// Changing a file and its manifest line together is still caught: the event
// chain names every file's digest.
func TestVerifyCatchesCoordinatedEdit(t *testing.T) {
	store, loc, id := openCase(t)
	data := export(t, store, loc, id)
	var oldSum, newSum string
	bad := rewrite(t, data, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "messages/") && strings.Contains(name, "-in-") {
			old := sha256.Sum256(b)
			b = bytes.Replace(b, []byte("broken"), []byte("BROKEN"), 1)
			nw := sha256.Sum256(b)
			oldSum, newSum = hex.EncodeToString(old[:]), hex.EncodeToString(nw[:])
		}
		return b
	})
	bad = rewrite(t, bad, func(name string, b []byte) []byte {
		if name == "manifest.json" {
			return bytes.Replace(b, []byte(oldSum), []byte(newSum), -1)
		}
		return b
	})
	_, problems, err := casefile.Verify(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Reason, "not recorded in the event chain") {
		t.Fatalf("coordinated edit: %v", problems)
	}
}

func TestVerifyCatchesAlterations(t *testing.T) {
	store, loc, id := openCase(t)
	data := export(t, store, loc, id)
	cases := map[string]func(name string, b []byte) []byte{
		"evidence/": func(name string, b []byte) []byte {
			if strings.HasPrefix(name, "evidence/") {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 1
			}
			return b
		},
		"events.json": func(name string, b []byte) []byte {
			if name == "events.json" {
				return bytes.Replace(b, []byte(`"kind": "mail-in"`), []byte(`"kind": "mail-lost"`), 1)
			}
			return b
		},
		"messages/": func(name string, b []byte) []byte {
			if strings.HasPrefix(name, "messages/") && strings.Contains(name, "-in-") {
				return bytes.Replace(b, []byte("broken"), []byte("BROKEN"), 1)
			}
			return b
		},
	}
	for want, change := range cases {
		bad := rewrite(t, data, change)
		_, problems, err := casefile.Verify(bytes.NewReader(bad), int64(len(bad)))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range problems {
			found = found || strings.HasPrefix(p.Path, want)
		}
		if !found {
			t.Errorf("altering %s not caught: %v", want, problems)
		}
	}
}
