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
	"sync"
	"syscall"
)

// Blobs is a folder of write-once files named by the SHA-256 of their content
// (blobs/ab/abcdef...). A blob is written to a temporary file, fsynced, renamed
// into place and its folder fsynced, so after Put returns it survives a crash.
//
// While a backup holds the folder (Hold), Remove only notes what to delete and
// deletes it at the release, so a blob the snapshot references stays readable
// until the backup has copied it even if the retention purge drops it meanwhile.
type Blobs struct {
	dir string

	mu       sync.Mutex
	holds    int
	deferred []string
	// removeDeferred removes a blob whose deletion waited for a release,
	// if it is still unreferenced (the store sets it); nil removes outright.
	removeDeferred func(sum string)
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
	if len(sum) < 2 {
		return false
	}
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

// Remove deletes a blob; a missing blob is not an error. While the folder is
// held, the deletion waits for the last release.
func (b *Blobs) Remove(sum string) error {
	b.mu.Lock()
	if b.holds > 0 {
		b.deferred = append(b.deferred, sum)
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	return b.remove(sum)
}

func (b *Blobs) remove(sum string) error {
	err := os.Remove(b.Path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Hold defers every Remove until release is called (once per Hold).
func (b *Blobs) Hold() (release func()) {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.holds--
			var todo []string
			if b.holds == 0 {
				todo, b.deferred = b.deferred, nil
			}
			b.mu.Unlock()
			for _, sum := range todo {
				if b.removeDeferred != nil {
					// While held, new mail may have brought the same content back.
					b.removeDeferred(sum)
				} else {
					b.remove(sum)
				}
			}
		})
	}
}

// Dir is the blob folder.
func (b *Blobs) Dir() string { return b.dir }

// List returns the digests of the blob files present (not the partial writes
// in tmp), and the names of files in the folder that are not blobs.
func (b *Blobs) List() (sums, strays []string, err error) {
	tops, err := os.ReadDir(b.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list blobs: %w", err)
	}
	for _, top := range tops {
		if top.Name() == "tmp" {
			continue
		}
		if !top.IsDir() || len(top.Name()) != 2 {
			strays = append(strays, top.Name())
			continue
		}
		ents, err := os.ReadDir(filepath.Join(b.dir, top.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("list blobs: %w", err)
		}
		for _, e := range ents {
			if n := e.Name(); e.Type().IsRegular() && IsDigest(n) && n[:2] == top.Name() {
				sums = append(sums, n)
			} else {
				strays = append(strays, filepath.Join(top.Name(), n))
			}
		}
	}
	return sums, strays, nil
}

// IsDigest reports whether s is a lower-case hex SHA-256, a blob's name.
func IsDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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

// FreeSpace is the room left for unprivileged writers on the file system
// holding dir (statfs(2): available blocks times block size).
func FreeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// SyncDir fsyncs a folder, so the names created in it survive a crash.
func SyncDir(dir string) error { return syncDir(dir) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
