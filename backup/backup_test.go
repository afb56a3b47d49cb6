package backup

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/casestore"
)

// folder is a data folder with one case: a message kept as a blob, an
// attachment kept as a blob (evidence), a text event, and a key file.
type folder struct {
	dir      string
	store    *casestore.Store
	msg, att string // blob digests
}

func newFolder(t *testing.T) *folder {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	store, err := casestore.Open(dir, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &folder{dir: dir, store: store}
	f.msg = f.put(t, "Subject: broken kettle\r\n\r\n"+strings.Repeat("It leaks. ", 2000))
	f.att = f.put(t, "%PDF-1.4 invoice "+strings.Repeat("x", 9000))
	err = store.Update(func(tx *casestore.Tx) error {
		id, err := tx.NextMessageID()
		if err != nil {
			return err
		}
		m := &casestore.Message{ID: id, Received: time.Now(), SHA256: f.msg, Size: 20000, CaseID: "C1"}
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if _, err := tx.RefRaw(f.msg, 1); err != nil {
			return err
		}
		c := &casestore.Case{ID: "C1", Created: time.Now(), State: "open", Title: "kettle"}
		if err := tx.AppendEvent(c, casestore.Event{Kind: casestore.EvMailIn, Message: id, Text: "It leaks"}); err != nil {
			return err
		}
		if err := tx.AddEvidence(c, &casestore.Evidence{Message: id, Name: "invoice.pdf", Size: 9017, SHA256: f.att}); err != nil {
			return err
		}
		return tx.PutCase(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "reply.keys"), []byte("k1 secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *folder) put(t *testing.T, content string) string {
	t.Helper()
	sum, _, err := f.store.Blobs.Put(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func (f *folder) backup(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Write(f.store, &buf, time.Now); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	f := newFolder(t)
	tarball := f.backup(t)
	dst := filepath.Join(t.TempDir(), "restored")
	man, err := Restore(bytes.NewReader(tarball), dst)
	if err != nil {
		t.Fatal(err)
	}
	if man.Cases != 1 || man.Blobs != 2 {
		t.Errorf("manifest: %d cases, %d blobs; want 1 and 2", man.Cases, man.Blobs)
	}
	var names []string
	filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dst, p)
		if info.IsDir() && info.Mode().Perm() != 0o700 || !info.IsDir() && info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0700 folders and 0600 files", rel, info.Mode())
		}
		if !info.IsDir() {
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	want := []string{"blobs/" + f.att[:2] + "/" + f.att, "blobs/" + f.msg[:2] + "/" + f.msg, "keys/reply.keys", "parley.db"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("restored files %v, want %v", names, want)
	}
	if k, _ := os.ReadFile(filepath.Join(dst, "keys", "reply.keys")); string(k) != "k1 secret\n" {
		t.Errorf("key file restored as %q", k)
	}
	// The restored folder opens and checks clean, as serve and case verify need.
	rs, err := casestore.Open(dst, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rep, err := Check(rs, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Cases != 1 || rep.Events != 2 || rep.BlobFiles != 2 || rep.Referenced != 2 {
		t.Errorf("restored folder: %+v", rep)
	}
	raw, err := rs.Raw(f.msg)
	if err != nil || !strings.HasPrefix(string(raw), "Subject: broken kettle") {
		t.Errorf("restored message: %v %.30q", err, raw)
	}
}

func TestBackupOfReadOnlyStore(t *testing.T) {
	f := newFolder(t)
	f.store.Close()
	ro, err := casestore.Open(f.dir, casestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var buf bytes.Buffer
	man, err := Write(ro, &buf, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if man.Blobs != 2 {
		t.Errorf("%d blobs, want 2", man.Blobs)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "blobs", "tmp")); err != nil {
		t.Errorf("read-only open must leave the folder as it is: %v", err)
	}
}

func TestRestoreRefusesNonEmptyFolder(t *testing.T) {
	f := newFolder(t)
	tarball := f.backup(t)
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(bytes.NewReader(tarball), dst)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a non-empty folder: %v", err)
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != 1 {
		t.Errorf("the folder now holds %d entries, want only notes.txt", len(ents))
	}
}

func TestRestoreRejectsDamagedBackup(t *testing.T) {
	f := newFolder(t)
	tarball := f.backup(t)
	// Damage one byte of the key file's content: the tar stays readable.
	damaged := bytes.Clone(tarball)
	i := bytes.Index(damaged, []byte("k1 secret"))
	damaged[i] = 'K'
	// Cut short: everything up to the manifest's header.
	cut := tarball[:bytes.Index(tarball, []byte(ManifestName))]
	if _, err := Verify(bytes.NewReader(tarball)); err != nil {
		t.Errorf("verify a sound backup: %v", err)
	}
	for name, data := range map[string][]byte{"damaged": damaged, "cut": cut} {
		if _, err := Verify(bytes.NewReader(data)); err == nil {
			t.Errorf("%s backup verified", name)
		}
		dst := filepath.Join(t.TempDir(), name)
		_, err := Restore(bytes.NewReader(data), dst)
		if err == nil {
			t.Errorf("%s backup restored without error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if ents, _ := os.ReadDir(dst); len(ents) != 0 {
			t.Errorf("%s backup left %d entries in the folder", name, len(ents))
		}
	}
}

// purgeWriter runs purge when the first blob member's header goes by: after
// the snapshot, before the blobs are copied.
type purgeWriter struct {
	w     io.Writer
	purge func()
	done  bool
}

func (p *purgeWriter) Write(b []byte) (int, error) {
	if !p.done && bytes.Contains(b, []byte("blobs/")) {
		p.done = true
		p.purge()
	}
	return p.w.Write(b)
}

// A blob the purge releases after the snapshot is still copied: its removal
// waits for the backup.
func TestBackupHoldsBlobsPurgedAfterSnapshot(t *testing.T) {
	f := newFolder(t)
	last := max(f.msg, f.att) // copied last
	var buf bytes.Buffer
	pw := &purgeWriter{w: &buf, purge: func() {
		err := f.store.Update(func(tx *casestore.Tx) error {
			for tx.RawRefs(last) > 0 {
				if _, err := tx.RefRaw(last, -1); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		f.store.Blobs.Remove(last)
	}}
	man, err := Write(f.store, pw, time.Now)
	if err != nil {
		t.Fatalf("backup with a purge during the copy: %v", err)
	}
	if !pw.done || man.Blobs != 2 {
		t.Fatalf("purge ran: %v; blobs copied: %d, want 2", pw.done, man.Blobs)
	}
	if f.store.Blobs.Has(last) {
		t.Error("the purged blob is still there after the backup: its removal was dropped, not deferred")
	}
	if _, err := Restore(bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "r")); err != nil {
		t.Error(err)
	}
}

// A blob released during a backup and referenced again before it ends (new
// mail with the same content) survives the deferred removal.
func TestBackupKeepsBlobReferencedAgainDuringHold(t *testing.T) {
	f := newFolder(t)
	release := f.store.Blobs.Hold()
	err := f.store.Update(func(tx *casestore.Tx) error { _, err := tx.RefRaw(f.att, -1); return err })
	if err != nil {
		t.Fatal(err)
	}
	f.store.Blobs.Remove(f.att) // the purge's removal, after its commit: deferred
	err = f.store.Update(func(tx *casestore.Tx) error { _, err := tx.RefRaw(f.att, 1); return err })
	if err != nil {
		t.Fatalf("a new reference while the removal waits: %v", err)
	}
	release()
	if !f.store.Blobs.Has(f.att) {
		t.Fatal("a referenced blob was removed at the release of a hold")
	}
}

func TestFsck(t *testing.T) {
	f := newFolder(t)
	rep, err := Check(f.store, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Unreferenced) != 0 {
		t.Fatalf("fresh folder: %+v", rep)
	}

	// A referenced blob deleted, an extra blob, a tampered event.
	if err := os.Remove(f.store.Blobs.Path(f.att)); err != nil {
		t.Fatal(err)
	}
	extra := f.put(t, "left behind by a failed transaction")
	err = f.store.Update(func(tx *casestore.Tx) error {
		ev, err := tx.Event("C1", 1)
		if err != nil {
			return err
		}
		ev.Text = "It does not leak"
		return tx.PutEvent(*ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Young blobs are spared: a write may be in flight.
	rep, err = Check(f.store, CheckOptions{Repair: true, MinAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Young, []string{extra}) || len(rep.Removed) != 0 || !f.store.Blobs.Has(extra) {
		t.Fatalf("young extra blob: %+v", rep)
	}

	rep, err = Check(f.store, CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) != 1 || rep.Missing[0].SHA256 != f.att || rep.Missing[0].Problem != "absent" {
		t.Errorf("missing: %+v", rep.Missing)
	}
	if !slices.Equal(rep.Unreferenced, []string{extra}) || !slices.Equal(rep.Removed, []string{extra}) {
		t.Errorf("unreferenced %v, removed %v; want %s in both", rep.Unreferenced, rep.Removed, extra)
	}
	if len(rep.Broken) != 1 || rep.Broken[0].Case != "C1" || rep.Broken[0].Seq != 1 {
		t.Errorf("broken: %+v", rep.Broken)
	}
	if rep.OK() {
		t.Error("report OK with a missing blob and a broken chain")
	}
	if f.store.Blobs.Has(extra) || !f.store.Blobs.Has(f.msg) {
		t.Errorf("after repair: extra present %v, referenced message present %v", f.store.Blobs.Has(extra), f.store.Blobs.Has(f.msg))
	}

	// A referenced blob whose content changed is damaged, and never removed.
	if err := os.WriteFile(f.store.Blobs.Path(f.msg), []byte("overwritten"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = Check(f.store, CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Missing, func(p BlobProblem) bool {
		return p.SHA256 == f.msg && strings.HasPrefix(p.Problem, "damaged")
	}) || len(rep.Removed) != 0 || !f.store.Blobs.Has(f.msg) {
		t.Errorf("damaged referenced blob: %+v", rep)
	}
}

// After a repair removed a blob, a writer that stored the same content
// before the removal cannot commit a reference to it.
func TestRepairRacingWriter(t *testing.T) {
	f := newFolder(t)
	sum := f.put(t, "a message whose transaction has not committed yet")
	removed, err := f.store.RemoveUnreferencedBlob(sum, nil)
	if err != nil || !removed {
		t.Fatalf("remove: %v %v", removed, err)
	}
	err = f.store.Update(func(tx *casestore.Tx) error { _, err := tx.RefRaw(sum, 1); return err })
	if err == nil {
		t.Fatal("a reference to a removed blob committed")
	}
	// A blob with a reference stays.
	if removed, err := f.store.RemoveUnreferencedBlob(f.msg, nil); err != nil || removed {
		t.Errorf("referenced blob removed: %v %v", removed, err)
	}
}
