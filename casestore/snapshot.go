package casestore

// What a backup and a consistency check need from the store: a consistent
// copy of the bbolt file taken in one read transaction, the blob digests that
// copy references, and the removal of a blob nothing references.

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is one read transaction seen as a file: its Size and WriteTo are
// a consistent copy of the database (bbolt's Tx.WriteTo), and Tx reads the
// same state, so the blob digests read from it are those the copy references.
type Snapshot struct {
	btx *bolt.Tx
	Tx  *Tx
}

// Snapshot runs fn in one read transaction. Writers go on meanwhile.
func (s *Store) Snapshot(fn func(*Snapshot) error) error {
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Snapshot{btx: btx, Tx: &Tx{tx: btx, s: s}}) })
}

// Size is the size of the database file WriteTo writes.
func (sn *Snapshot) Size() int64 { return sn.btx.Size() }

// WriteTo writes the database as of the snapshot.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) { return sn.btx.WriteTo(w) }

// BlobRefs are the blob folder's digests the database knows.
type BlobRefs struct {
	// Counted is content with a reference count (raw_refs) that is not kept
	// inline: each must be in the blob folder.
	Counted map[string]int64
	// Named is every digest a row names (message, outbound, evidence, a
	// mediator's personal message). The evidence rows of a purged case keep
	// their digest after the blob went, so a named blob may be absent.
	Named map[string]bool
}

// Keeps reports whether blob sum must not be deleted.
func (r BlobRefs) Keeps(sum string) bool { return r.Counted[sum] > 0 || r.Named[sum] }

// BlobRefs reads the blob digests the database references.
func (t *Tx) BlobRefs() (BlobRefs, error) {
	refs := BlobRefs{Counted: map[string]int64{}, Named: map[string]bool{}}
	raw := t.tx.Bucket(bRaw)
	err := t.tx.Bucket(bRawRefs).ForEach(func(k, v []byte) error {
		if r := decodeRawRef(v); r.count > 0 && r.seq == 0 && raw.Get(k) == nil {
			refs.Counted[string(k)] = int64(r.count)
		}
		return nil
	})
	if err != nil {
		return refs, err
	}
	for _, name := range [][]byte{bMessages, bOutbound, bEvidence, bPersonalMsgs} {
		err := t.tx.Bucket(name).ForEach(func(k, v []byte) error {
			var row struct {
				SHA256 string `json:"sha256"`
			}
			if err := decodeRow(v, &row); err != nil {
				return fmt.Errorf("%s %x: %w", name, k, err)
			}
			if row.SHA256 != "" && t.inlineRaw(row.SHA256) == nil {
				refs.Named[row.SHA256] = true
			}
			return nil
		})
		if err != nil {
			return refs, err
		}
	}
	return refs, nil
}

// RemoveUnreferencedBlob deletes blob sum if, inside a write transaction,
// nothing counts a reference to it. Every new reference is counted by RefRaw
// in a write transaction that checks the blob is there, so a writer racing
// this removal either commits first (and the blob stays) or finds the blob
// gone and fails its transaction (and retries), never a row pointing at
// nothing. named are the digests rows name (BlobRefs.Named), read beforehand.
func (s *Store) RemoveUnreferencedBlob(sum string, named map[string]bool) (removed bool, err error) {
	if named[sum] {
		return false, nil
	}
	err = s.Update(func(tx *Tx) error {
		removed = false
		if tx.RawRefs(sum) > 0 || tx.inlineRaw(sum) != nil {
			return nil
		}
		if err := s.Blobs.Remove(sum); err != nil {
			return fmt.Errorf("remove blob %s: %w", sum, err)
		}
		removed = true
		return nil
	})
	return removed, err
}
