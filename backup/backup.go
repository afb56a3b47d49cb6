// Package backup owns the copies of a data folder and its consistency check:
// `parley backup` writes one tar file (a consistent snapshot of the bbolt
// file, the blobs that snapshot references, the key files of the folder and a
// manifest with the SHA-256 of every member), `parley restore` turns such a
// file back into a data folder after checking every digest, and `parley fsck`
// reports blobs missing or unreferenced and event chains broken, removing
// only unreferenced blobs when asked to repair.
//
// The tar format is POSIX ustar/PAX (archive/tar), readable by any tar.
//
// Consistency while the daemon runs: the database is copied inside one bbolt
// read transaction (Tx.WriteTo), so it is a committed state; writers go on.
// Blobs are write-once and named by their content, so copying them after the
// transaction copies what the snapshot names. The one blob that could vanish
// meanwhile is one the retention purge releases after the snapshot: the
// blob folder is held (casestore.Blobs.Hold) from before the snapshot until
// the last blob is copied, so such a deletion waits until the backup is done.
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"parley/casestore"
)

const (
	// Format is the version of the tar layout.
	Format = 1
	// ManifestName is the tar's last member.
	ManifestName = "MANIFEST.json"
	// DBName is the database, as in the data folder.
	DBName = casestore.DBFile
)

// Member is one file of a backup.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes a backup: its last member.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	Source  string    `json:"source"` // the data folder copied
	Cases   int       `json:"cases"`
	Blobs   int       `json:"blobs"`
	Members []Member  `json:"members"`
}

// skipped are the names at the top of a data folder a backup does not copy
// as files: the database (snapshotted), the blob folder (copied by
// reference), the control socket, the Maildir outbox (mail already
// delivered, not state), and a copy an interrupted `parley compact` left.
var skipped = []string{DBName, casestore.BlobsDir, "parley.sock" /* control.SocketName: control imports this package */, "outbox", casestore.CompactFile}

// Write writes a backup of store (open, by the daemon or read-only) to w.
func Write(store *casestore.Store, w io.Writer, now func() time.Time) (*Manifest, error) {
	man := &Manifest{Format: Format, Created: now().UTC(), Source: store.Dir()}
	tw := tar.NewWriter(w)
	release := store.Blobs.Hold()
	defer release()
	var refs casestore.BlobRefs
	err := store.Snapshot(func(sn *casestore.Snapshot) error {
		var err error
		if refs, err = sn.Tx.BlobRefs(); err != nil {
			return err
		}
		cases, err := sn.Tx.Cases()
		if err != nil {
			return err
		}
		man.Cases = len(cases)
		m, err := addMember(tw, DBName, sn.Size(), man.Created, sn.WriteTo)
		man.Members = append(man.Members, m)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backup: database snapshot: %w", err)
	}
	if err := writeBlobs(tw, store.Blobs, refs, man); err != nil {
		return nil, err
	}
	if err := writeFiles(tw, store.Dir(), man); err != nil {
		return nil, err
	}
	release()
	body, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(body)), ModTime: man.Created, Typeflag: tar.TypeReg}); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(body); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return man, nil
}

// writeBlobs copies the blobs the snapshot references: a counted one must be
// there with the right content; one only named by a row (evidence of a
// purged case) is copied when present.
func writeBlobs(tw *tar.Writer, blobs *casestore.Blobs, refs casestore.BlobRefs, man *Manifest) error {
	sums := make([]string, 0, len(refs.Counted)+len(refs.Named))
	for s := range refs.Counted {
		sums = append(sums, s)
	}
	for s := range refs.Named {
		if refs.Counted[s] == 0 {
			sums = append(sums, s)
		}
	}
	slices.Sort(sums)
	for _, sum := range sums {
		f, err := blobs.Open(sum)
		if errors.Is(err, os.ErrNotExist) && refs.Counted[sum] == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: blob %s, which the database references: %w (parley fsck lists what is missing)", sum, err)
		}
		m, err := addFile(tw, "blobs/"+sum[:2]+"/"+sum, f)
		f.Close()
		if err != nil {
			return err
		}
		if m.SHA256 != sum {
			return fmt.Errorf("backup: blob %s is damaged: its content hashes to %s (parley fsck lists every damaged blob)", sum, m.SHA256)
		}
		man.Members = append(man.Members, m)
		man.Blobs++
	}
	return nil
}

// writeFiles copies the data folder's other regular files: the reply-address
// keys, DKIM keys, TLS certificates and keys, the outbound queue's log of
// deliveries not yet recorded (delivered.log), whatever the daemon keeps there.
func writeFiles(tw *tar.Writer, dir string, man *Manifest) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if !strings.Contains(rel, "/") && slices.Contains(skipped, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // folders are implied; sockets and links are not state
		}
		// Read whole: such files are small, and some change in place
		// (delivered.log is appended to and emptied), so the copy is one
		// read, not a stat and a copy that could disagree.
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		m, err := addMember(tw, rel, int64(len(data)), man.Created, func(w io.Writer) (int64, error) {
			n, err := w.Write(data)
			return int64(n), err
		})
		if err != nil {
			return err
		}
		man.Members = append(man.Members, m)
		return nil
	})
}

// addFile writes an open file as a member.
func addFile(tw *tar.Writer, name string, f *os.File) (Member, error) {
	st, err := f.Stat()
	if err != nil {
		return Member{Name: name}, fmt.Errorf("backup: %w", err)
	}
	return addMember(tw, name, st.Size(), st.ModTime(), func(w io.Writer) (int64, error) {
		n, err := io.CopyN(w, f, st.Size())
		if err != nil {
			return n, fmt.Errorf("%s changed while it was copied: %w", f.Name(), err)
		}
		return n, nil
	})
}

// addMember writes a member of the given size whose content write produces,
// and returns it with its digest.
func addMember(tw *tar.Writer, name string, size int64, mtime time.Time, write func(io.Writer) (int64, error)) (Member, error) {
	m := Member{Name: name, Size: size}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return m, fmt.Errorf("backup: %s: %w", name, err)
	}
	h := sha256.New()
	n, err := write(io.MultiWriter(tw, h))
	if err == nil && n != size {
		err = fmt.Errorf("wrote %d bytes of %d", n, size)
	}
	if err != nil {
		return m, fmt.Errorf("backup: %s: %w", name, err)
	}
	m.SHA256 = hexSum(h)
	return m, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
