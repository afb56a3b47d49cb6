// Package casefile owns the exported case file: a zip that a dispute body can
// read without Parley. It holds every message as .eml (as received, as sent),
// every attachment under its evidence name, the event log, a readable HTML
// summary, and manifest.json with the SHA-256 of every file and the head of
// the event chain, so Verify can show nothing was altered.
package casefile

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"parley/casestore"
	"parley/evidence"
	"parley/locales"
)

// Format names the layout of the zip; Verify refuses others.
const Format = "parley-case-file/1"

// File is one entry of the manifest.
type File struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"` // message-in, message-out, evidence, events, summary
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Source names the record: message id, outbound id or evidence seq.
	Source uint64 `json:"source,omitempty"`
}

// Manifest is manifest.json.
type Manifest struct {
	Format     string          `json:"format"`
	Exported   time.Time       `json:"exported"`
	Case       *casestore.Case `json:"case"`
	EventCount uint64          `json:"event_count"`
	EventHead  string          `json:"event_head"`
	Files      []File          `json:"files"`
	// Closing is the "closed" event, whose hash the parties' closing notices
	// carry as the record's fingerprint (filled in by Verify).
	Closing *casestore.Event `json:"-"`
}

// Source is what Export reads: the store and the locales for the summary.
type Source struct {
	Store   *casestore.Store
	Locales *locales.Bundle
}

type item struct {
	at   time.Time
	file File
	read func() (io.ReadCloser, error)
}

// Export writes the case file of id to w.
func (s Source) Export(id string, w io.Writer) error {
	var c *casestore.Case
	var msgs []casestore.Message
	var outs []casestore.Outbound
	var evs []casestore.Event
	var evidenceRows []casestore.Evidence
	err := s.Store.View(func(tx *casestore.Tx) (err error) {
		if c, err = tx.Case(id); err != nil {
			return err
		}
		if msgs, err = tx.CaseMessages(id); err != nil {
			return err
		}
		if outs, err = tx.CaseOutbound(id); err != nil {
			return err
		}
		if evidenceRows, err = tx.CaseEvidence(id); err != nil {
			return err
		}
		evs, err = tx.Events(id)
		return err
	})
	if err != nil {
		return err
	}
	var items []item
	for _, m := range msgs {
		if m.SHA256 == "" {
			continue // purged
		}
		sum := m.SHA256
		items = append(items, item{at: m.Received, file: File{Kind: "message-in", Source: m.ID, SHA256: sum, Size: m.Size,
			Path: fmt.Sprintf("in-%s-%d.eml", orStranger(string(m.Role), m.Flags), m.ID)}, read: s.opener(sum)})
	}
	for _, o := range outs {
		if o.SHA256 == "" {
			continue
		}
		sum := o.SHA256
		items = append(items, item{at: o.Created, file: File{Kind: "message-out", Source: o.ID, SHA256: sum, Size: o.Size,
			Path: fmt.Sprintf("out-%s-%s-%d.eml", orDash(string(o.Role)), o.Kind, o.ID)}, read: s.opener(sum)})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
	for i := range items {
		items[i].file.Path = fmt.Sprintf("messages/%04d-%s", i+1, items[i].file.Path)
	}
	for _, ev := range evidenceRows {
		if ev.SHA256 == "" || !s.Store.Blobs.Has(ev.SHA256) {
			continue
		}
		name := evidence.SanitizeName(ev.Name, int(ev.Seq), ev.Declared)
		items = append(items, item{at: ev.Time, file: File{Kind: "evidence", Source: ev.Seq, SHA256: ev.SHA256, Size: ev.Size,
			Path: fmt.Sprintf("evidence/%03d-%s", ev.Seq, name)}, read: s.opener(ev.SHA256)})
	}

	zw := zip.NewWriter(w)
	man := Manifest{Format: Format, Exported: s.Store.Now().UTC(), Case: c, EventCount: c.Events, EventHead: c.LastHash}
	stamp := man.Exported
	for _, it := range items {
		f, err := copyEntry(zw, it.file.Path, stamp, it.read)
		if err != nil {
			return fmt.Errorf("export %s: %w", it.file.Path, err)
		}
		if f.SHA256 != it.file.SHA256 {
			return fmt.Errorf("export %s: stored content does not match its digest (%s != %s)", it.file.Path, f.SHA256, it.file.SHA256)
		}
		man.Files = append(man.Files, it.file)
	}
	evJSON, err := json.MarshalIndent(evs, "", "  ")
	if err != nil {
		return err
	}
	summary, err := s.summary(c, evs, evidenceRows, items)
	if err != nil {
		return err
	}
	for _, extra := range []struct {
		path, kind string
		data       []byte
	}{{"events.json", "events", evJSON}, {"summary.html", "summary", summary}} {
		data := extra.data
		f, err := copyEntry(zw, extra.path, stamp, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil })
		if err != nil {
			return err
		}
		f.Kind = extra.kind
		man.Files = append(man.Files, f)
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: "manifest.json", Method: zip.Deflate, Modified: stamp})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(mw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(man); err != nil {
		return err
	}
	return zw.Close()
}

func (s Source) opener(sum string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		r, _, err := s.Store.OpenRaw(sum)
		return r, err
	}
}

// copyEntry writes one zip entry and returns its size and digest.
func copyEntry(zw *zip.Writer, name string, stamp time.Time, open func() (io.ReadCloser, error)) (File, error) {
	r, err := open()
	if err != nil {
		return File{}, err
	}
	defer r.Close()
	w, err := zw.CreateHeader(&zip.FileHeader{Name: path.Clean(name), Method: zip.Deflate, Modified: stamp})
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return File{}, err
	}
	return File{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func orStranger(role string, flags []string) string {
	for _, f := range flags {
		if f == casestore.FlagQuarantined {
			return "quarantined"
		}
	}
	return orDash(role)
}

func orDash(s string) string {
	if s == "" {
		return "other"
	}
	return s
}
