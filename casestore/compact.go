package casestore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// CompactReport is what Compact did.
type CompactReport struct {
	Before, After int64 // file sizes in bytes
	Took          time.Duration
}

// ErrNoRoom means the file system lacks the room for a compacted copy.
var ErrNoRoom = errors.New("not enough free space")

// CompactFile is the name of Compact's copy in the data folder while it runs.
const CompactFile = DBFile + ".compact"

// compactTxSize bounds how much one transaction of the copy holds: a copy
// in one transaction would keep every page of a large store in memory.
const compactTxSize = 64 << 20

// Compact rewrites the bbolt file of the data folder dir with every page
// full and puts it in the file's place. A file never gives pages back: pages
// that purges emptied and, in a file written before appendFill, pages split
// half full stay part of it. The daemon must be stopped: Compact holds the
// file's lock for the whole run (ErrLocked when another process has it).
//
// The copy goes to parley.db.compact beside the file, is synced once at the
// end, checked against the original (the same buckets with the same
// sequences, key counts and first and last keys), and only then renamed over
// it. Interrupted at any point, the original is untouched; a copy left over
// is removed by the next run. The blob folder is not touched.
func Compact(dir string, lockTimeout time.Duration) (CompactReport, error) {
	start := time.Now()
	var rep CompactReport
	path := DBPath(dir)
	st, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("no Parley data in %s: %w", dir, err)
	}
	rep.Before = st.Size()
	if lockTimeout == 0 {
		lockTimeout = time.Second
	}
	src, err := openLocked(path, bolt.Options{Timeout: lockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return rep, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return rep, fmt.Errorf("open %s: %w", path, err)
	}
	// Closed after the rename: the lock is held until the new file is in place.
	defer src.Close()
	var used int64
	if err := src.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		return rep, fmt.Errorf("read %s: %w", path, err)
	}
	free, err := FreeSpace(dir)
	if err != nil {
		return rep, err
	}
	if free < used {
		return rep, fmt.Errorf("%s has %d MB free, the copy may take up to %d MB: %w", dir, free/1e6, used/1e6, ErrNoRoom)
	}

	tmp := filepath.Join(dir, CompactFile)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("remove the copy an earlier run left: %w", err)
	}
	if err := copyCompact(src, tmp); err != nil {
		os.Remove(tmp)
		return rep, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return rep, fmt.Errorf("put the compacted file in place: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return rep, fmt.Errorf("sync %s after the rename: %w", dir, err)
	}
	if st, err := os.Stat(path); err == nil {
		rep.After = st.Size()
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// openLocked opens path with bbolt, which takes the file's lock, and makes
// sure the file it holds is still the one named path: Compact renames a new
// file over it, and an open that waited for the lock meanwhile would go on
// with the old file, unlinked, and mail accepted into it would be lost. It
// then opens again, the new file.
func openLocked(path string, o bolt.Options) (*bolt.DB, error) {
	for attempt := 1; ; attempt++ {
		var held *os.File
		o.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			held = f
			return f, err
		}
		db, err := bolt.Open(path, 0o600, &o)
		if err != nil {
			return nil, err
		}
		a, err1 := held.Stat()
		b, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			return db, nil
		}
		db.Close()
		if attempt == 3 {
			return nil, fmt.Errorf("%s was replaced %d times while waiting for its lock", path, attempt)
		}
	}
}

// copyCompact writes src, pages full, to the new file tmp, syncs it and
// checks it against src.
func copyCompact(src *bolt.DB, tmp string) error {
	// No sync at each intermediate commit: a crash leaves a copy that is
	// thrown away. One sync at the end makes it durable before the rename.
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer dst.Close()
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		return fmt.Errorf("copy into %s: %w", tmp, err)
	}
	// As Store.Close does: with the free page list in the file, the next
	// Open reads it instead of walking every page (14 s for a million cases
	// read from disk).
	if err := writeFreelist(dst); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := sameContent(src, dst); err != nil {
		return fmt.Errorf("the copy %s does not match: %w", tmp, err)
	}
	return nil
}

// sameContent compares the top-level buckets of a and b: names, sequences,
// key counts, first and last keys.
func sameContent(a, b *bolt.DB) error {
	type shape struct {
		seq         uint64
		keys        int
		first, last []byte
	}
	shapes := func(db *bolt.DB) (map[string]shape, error) {
		out := map[string]shape{}
		err := db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
				s := shape{seq: bk.Sequence()}
				c := bk.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if s.keys == 0 {
						s.first = bytes.Clone(k)
					}
					s.keys++
				}
				if k, _ := c.Last(); k != nil {
					s.last = bytes.Clone(k)
				}
				out[string(name)] = s
				return nil
			})
		})
		return out, err
	}
	sa, err := shapes(a)
	if err != nil {
		return err
	}
	sb, err := shapes(b)
	if err != nil {
		return err
	}
	if len(sa) != len(sb) {
		return fmt.Errorf("%d buckets, the original has %d", len(sb), len(sa))
	}
	for name, x := range sa {
		y, ok := sb[name]
		switch {
		case !ok:
			return fmt.Errorf("bucket %s missing", name)
		case x.seq != y.seq:
			return fmt.Errorf("bucket %s: sequence %d, the original has %d", name, y.seq, x.seq)
		case x.keys != y.keys:
			return fmt.Errorf("bucket %s: %d keys, the original has %d", name, y.keys, x.keys)
		case !bytes.Equal(x.first, y.first) || !bytes.Equal(x.last, y.last):
			return fmt.Errorf("bucket %s: first or last key differs", name)
		}
	}
	return nil
}
