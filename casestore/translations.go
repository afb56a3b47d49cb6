package casestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Machine translations are cached by engine, language pair and the SHA-256
// of the text, so a relay to several readers, or a retried job, asks the
// engine once. An entry holds what a party wrote, translated: it is swept
// after the retention period like mail of no case (key: the digest; value:
// the time it was made, big-endian Unix seconds, then the text).

// TranslationKey names a translation in the cache.
func TranslationKey(engine, from, to, text string) string {
	sum := sha256.Sum256([]byte(text))
	return engine + "|" + from + "|" + to + "|" + hex.EncodeToString(sum[:])
}

// Translation returns a cached translation.
func (t *Tx) Translation(key string) (string, bool) {
	v := t.tx.Bucket(bTranslations).Get([]byte(key))
	if len(v) < 8 {
		return "", false
	}
	return string(v[8:]), true
}

// PutTranslation caches a translation made at.
func (t *Tx) PutTranslation(key, text string, at time.Time) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(at.Unix()))
	return t.tx.Bucket(bTranslations).Put([]byte(key), append(v, text...))
}

// SweepTranslations deletes translations made before cutoff, at most limit.
func (t *Tx) SweepTranslations(cutoff time.Time, limit int) (int, error) {
	var old [][]byte
	c := t.tx.Bucket(bTranslations).Cursor()
	for k, v := c.First(); k != nil && len(old) < limit; k, v = c.Next() {
		if len(v) < 8 || int64(binary.BigEndian.Uint64(v[:8])) < cutoff.Unix() {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := t.tx.Bucket(bTranslations).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
