package casestore

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"

	bolt "go.etcd.io/bbolt"
)

// migrate brings a file written with schema version from up to
// SchemaVersion, in the transaction that opens it. Each step is a function
// of its own, so steps stay independent of each other.
//
//	1 -> 2: cases_by_created, the index `case list` pages through.
//	2 -> 3: the change log (changes.go) and the lists of the cases the
//	        mailbox index shows (maillist.go).
//	3 -> 4: case_counts, the number of cases in each state.
//	4 -> 5: messages_caseless, the messages of no case the retention sweep deletes.
//	5 -> 6: raw_seq, new inline content in the order it was stored
//	        (rawcontent.go); content stored before stays where it is, so
//	        there is nothing to move. The version keeps an older program,
//	        which would not find that content, from opening the file.
//	6 -> 7: messages_by_case_counts, each case's number of messages.
func migrate(tx *bolt.Tx, from uint64) error {
	if from < 2 {
		if err := migrateCasesByCreated(tx); err != nil {
			return fmt.Errorf("migrate to schema 2: %w", err)
		}
	}
	if from < 3 {
		if err := migrateChangeLog(tx); err != nil {
			return fmt.Errorf("migrate to schema 3: %w", err)
		}
	}
	if from < 4 {
		if err := migrateCaseCounts(tx); err != nil {
			return fmt.Errorf("migrate to schema 4: %w", err)
		}
	}
	if from < 5 {
		if err := migrateCaseless(tx); err != nil {
			return fmt.Errorf("migrate to schema 5: %w", err)
		}
	}
	if from < 7 {
		if err := migrateCaseMessageCounts(tx); err != nil {
			return fmt.Errorf("migrate to schema 7: %w", err)
		}
	}
	if from < SchemaVersion {
		return tx.Bucket(bMeta).Put([]byte("schema"), itob(SchemaVersion))
	}
	return nil
}

// migrateCaseMessageCounts counts the keys of messages_by_case (case id,
// "/", message id) per case, once.
func migrateCaseMessageCounts(tx *bolt.Tx) error {
	counts := tx.Bucket(bCaseMsgCounts)
	var id []byte
	var n uint64
	flush := func() error {
		if n == 0 {
			return nil
		}
		return counts.Put(id, itob(n))
	}
	err := tx.Bucket(bCaseMsgs).ForEach(func(k, _ []byte) error {
		i := len(k) - 9 // the id is 8 bytes and may hold a '/' itself
		if i < 0 || k[i] != '/' {
			return fmt.Errorf("messages_by_case key %q: not case id, /, message id", k)
		}
		if !bytes.Equal(k[:i], id) {
			if err := flush(); err != nil {
				return err
			}
			id, n = bytes.Clone(k[:i]), 0
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func migrateCasesByCreated(tx *bolt.Tx) error {
	idx := tx.Bucket(bCasesByCreated)
	return tx.Bucket(bCases).ForEach(func(k, v []byte) error {
		var c Case
		if err := decodeRow(v, &c); err != nil {
			return fmt.Errorf("case %s: %w", k, err)
		}
		return idx.Put(createdKey(&c), nil)
	})
}

// migrateChangeLog puts every case in the change log, and every case the
// mailbox index saw in its lists. The cases the index is up to date with
// (their MailCase stamp is the stamp schema 2 computed) come first, and the
// index is marked as having seen them; the others come after, so the index
// reads them again at its next start, as it would have before.
func migrateChangeLog(tx *bolt.Tx) error {
	t := &Tx{tx: tx}
	var current, stale []string
	err := tx.Bucket(bCases).ForEach(func(k, v []byte) error {
		mc, err := t.MailCase(string(k))
		switch {
		case err == nil && mc.Stamp == legacyStamp(tx, k, v):
			current = append(current, string(k))
		case err == nil || errors.Is(err, ErrNotFound):
			stale = append(stale, string(k))
		default:
			return fmt.Errorf("mail case %s: %w", k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, ids := range [][]string{current, stale} {
		for _, id := range ids {
			if _, err := logChange(tx, id); err != nil {
				return err
			}
			if err := migrateMailCase(t, id, i == 0); err != nil {
				return err
			}
		}
		if i == 0 {
			if err := t.SetMailSeen(t.LastChange()); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrateMailCase gives the MailCase of a case (if the index saw it) its
// closing time and its place in the lists; current says the index is up to
// date with the case, whose stamp is then its new one.
func migrateMailCase(t *Tx, id string, current bool) error {
	mc, err := t.MailCase(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mail case %s: %w", id, err)
	}
	if mc.Closed {
		c, err := t.Case(id)
		if err != nil {
			return err
		}
		// As imapd orders them: a case closed without a closing time
		// recorded by its opening time.
		mc.ClosedAt = c.Closed
		if mc.ClosedAt.IsZero() {
			mc.ClosedAt = c.Created
		}
	}
	if current {
		mc.Stamp = t.CaseStamp(id)
	}
	if err := putMailListing(t.tx, nil, &mc); err != nil {
		return fmt.Errorf("mail case %s: %w", id, err)
	}
	return t.put(bMailCases, []byte(id), mc)
}

// legacyStamp is the stamp schema 2 kept in MailCase: a checksum of the
// case row plus its message and outbound keys.
func legacyStamp(tx *bolt.Tx, id, row []byte) uint64 {
	s := crc64.Checksum(row, crc64.MakeTable(crc64.ECMA))
	prefix := append(bytes.Clone(id), '/')
	for _, b := range [][]byte{bCaseMsgs, bOutByCase} {
		salt := uint64(len(b)) << 40
		c := tx.Bucket(b).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			s += salt + btoi(k[len(prefix):])
		}
	}
	return s
}
