package casestore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Blobs is a folder of write-once files named by the SHA-256 of their content
// (blobs/ab/abcdef...). A blob is written to a temporary file, fsynced, renamed
// into place and its folder fsynced, so after Put returns it survives a crash.
type Blobs struct {
	dir string
}

// OpenBlobs creates the folder (0700) if needed.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create blob folder %s: %w", dir, err)
	}
	return &Blobs{dir: dir}, nil
}

// Path is where the blob with hex digest sum lives.
func (b *Blobs) Path(sum string) string {
	return filepath.Join(b.dir, sum[:2], sum)
}

// Open opens a blob for reading.
func (b *Blobs) Open(sum string) (*os.File, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("blob %q: not a sha256", sum)
	}
	return os.Open(b.Path(sum))
}

// Writer streams a new blob; Commit makes it durable under its digest.
type Writer struct {
	b    *Blobs
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

// Create starts a new blob in the tmp folder.
func (b *Blobs) Create() (*Writer, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "w-*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &Writer{b: b, f: f, h: sha256.New()}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Commit fsyncs the file, renames it to its digest and fsyncs the folder. An
// existing blob with the same digest is kept (write once) and the new copy dropped.
func (w *Writer) Commit() (sum string, size int64, err error) {
	w.done = true
	sum = hex.EncodeToString(w.h.Sum(nil))
	tmp := w.f.Name()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(tmp)
		return "", 0, fmt.Errorf("fsync blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("close blob: %w", err)
	}
	final := w.b.Path(sum)
	if _, err := os.Stat(final); err == nil {
		os.Remove(tmp)
		return sum, w.n, nil
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("create blob folder: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", 0, fmt.Errorf("store blob %s: %w", sum, err)
	}
	if err := syncDir(dir); err != nil {
		return "", 0, fmt.Errorf("fsync blob folder: %w", err)
	}
	return sum, w.n, nil
}

// Abort removes an uncommitted blob. Safe to call after Commit.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Has reports whether a blob is stored.
func (b *Blobs) Has(sum string) bool {
	_, err := os.Stat(b.Path(sum))
	return err == nil
}

// Put stores r as a blob.
func (b *Blobs) Put(r io.Reader) (string, int64, error) {
	w, err := b.Create()
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	return w.Commit()
}

// Remove deletes a blob; a missing blob is not an error.
func (b *Blobs) Remove(sum string) error {
	err := os.Remove(b.Path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// CleanTmp removes partial writes left by a crash.
func (b *Blobs) CleanTmp() error {
	tmp := filepath.Join(b.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		os.Remove(filepath.Join(tmp, e.Name()))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
