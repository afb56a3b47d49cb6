package casestore

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Raw content small enough to keep in the bbolt file lives in raw_seq, under
// an 8-byte sequence number given in the order it was stored, and raw_refs
// maps its SHA-256 to its reference count and that number (16 bytes). Content
// of a blob, and inline content stored before schema 6, has an 8-byte count
// there; the latter stays in raw under its digest.
//
// Why not the digest as the key: a digest is a random place in the tree. In a
// store of a million cases raw holds a gigabyte, and every message stored or
// relayed read a leaf of it from disk unless the page cache held the whole
// tree (ingest at a million cases ran at 0.79 of the rate at 11,000 with part
// of the file cached, 0.96 with all of it). In sequence order new content goes
// to the tree's right edge, which stays in memory; the random lookups left
// are in raw_refs, a sixteenth of the size.
var bRawSeq = []byte("raw_seq")

// rawRef is a raw_refs value: how many rows name the content, and where
// raw_seq keeps it (0: in raw, or in the blob folder).
type rawRef struct{ count, seq uint64 }

func decodeRawRef(v []byte) rawRef {
	switch len(v) {
	case 8:
		return rawRef{count: binary.BigEndian.Uint64(v)}
	case 16:
		return rawRef{count: binary.BigEndian.Uint64(v[:8]), seq: binary.BigEndian.Uint64(v[8:])}
	}
	return rawRef{}
}

func (r rawRef) encode() []byte {
	if r.seq == 0 {
		return itob(r.count)
	}
	return binary.BigEndian.AppendUint64(itob(r.count), r.seq)
}

func (t *Tx) rawRef(sum string) rawRef {
	return decodeRawRef(t.tx.Bucket(bRawRefs).Get([]byte(sum)))
}

// PutRawInline stores a small raw message (write once: content already kept
// is not stored again). Its reference count is RefRaw's.
func (t *Tx) PutRawInline(sum string, data []byte) error {
	r := t.rawRef(sum)
	if r.seq != 0 || r.count > 0 && t.tx.Bucket(bRaw).Get([]byte(sum)) != nil {
		return nil
	}
	seqs := t.tx.Bucket(bRawSeq)
	seq, err := seqs.NextSequence()
	if err != nil {
		return fmt.Errorf("raw content %s: %w", sum, err)
	}
	if err := seqs.Put(itob(seq), data); err != nil {
		return fmt.Errorf("raw content %s: %w", sum, err)
	}
	r.seq = seq
	return t.tx.Bucket(bRawRefs).Put([]byte(sum), r.encode())
}

// inlineRaw is the content sum kept in the bbolt file, nil if it is not
// (it may be in the blob folder). Valid until the transaction ends.
func (t *Tx) inlineRaw(sum string) []byte {
	if r := t.rawRef(sum); r.seq != 0 {
		return t.tx.Bucket(bRawSeq).Get(itob(r.seq))
	}
	return t.tx.Bucket(bRaw).Get([]byte(sum))
}

// RawInline returns a copy of an inline raw message, or nil when it lives in the blob folder.
func (t *Tx) RawInline(sum string) []byte {
	if v := t.inlineRaw(sum); v != nil {
		return bytes.Clone(v)
	}
	return nil
}

// RawRefs is how many rows name the raw content sum.
func (t *Tx) RawRefs(sum string) int64 { return int64(t.rawRef(sum).count) }

// RefRaw changes the reference count of raw content sum by delta and reports
// whether nothing references it any more. Unreferenced inline content stays
// until DeleteRawInline.
func (t *Tx) RefRaw(sum string, delta int) (unused bool, err error) {
	// A new reference to content not kept inline needs its blob: checked in
	// the transaction, so fsck --repair (RemoveUnreferencedBlob) cannot
	// delete a blob between its writer's Put and this commit.
	if delta > 0 && sum != "" && t.inlineRaw(sum) == nil && !t.s.Blobs.Has(sum) {
		return false, fmt.Errorf("content %s is neither inline nor in the blob folder", sum)
	}
	b := t.tx.Bucket(bRawRefs)
	r := t.rawRef(sum)
	n := int64(r.count) + int64(delta)
	if n <= 0 && r.seq == 0 {
		return true, b.Delete([]byte(sum))
	}
	r.count = uint64(max(n, 0))
	return n <= 0, b.Put([]byte(sum), r.encode())
}

// DeleteRawInline removes inline raw content. Content in raw_seq is not
// looked for in raw too: that would read a random leaf of the old tree, inside
// the group commit, for every purged message.
func (t *Tx) DeleteRawInline(sum string) error {
	r := t.rawRef(sum)
	if r.seq == 0 {
		return t.tx.Bucket(bRaw).Delete([]byte(sum))
	}
	if err := t.tx.Bucket(bRawSeq).Delete(itob(r.seq)); err != nil {
		return err
	}
	if r.count == 0 {
		return t.tx.Bucket(bRawRefs).Delete([]byte(sum))
	}
	return t.tx.Bucket(bRawRefs).Put([]byte(sum), rawRef{count: r.count}.encode())
}
