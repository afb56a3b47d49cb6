package casestore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrate brings a file written with schema version from up to
// SchemaVersion, in the transaction that opens it.
//
//	1 -> 2: cases_by_created, the index `case list` pages through.
//	2 -> 3: case_counts, the number of cases in each state.
//	3 -> 4: messages_caseless, the messages of no case the retention sweep deletes.
func migrate(tx *bolt.Tx, from uint64) error {
	if from < 2 {
		idx := tx.Bucket(bCasesByCreated)
		err := tx.Bucket(bCases).ForEach(func(k, v []byte) error {
			var c Case
			if err := decodeRow(v, &c); err != nil {
				return fmt.Errorf("case %s: %w", k, err)
			}
			return idx.Put(createdKey(&c), nil)
		})
		if err != nil {
			return fmt.Errorf("migrate to schema 2: %w", err)
		}
	}
	if from < 3 {
		if err := migrateCaseCounts(tx); err != nil {
			return err
		}
	}
	if from < 4 {
		if err := migrateCaseless(tx); err != nil {
			return err
		}
	}
	if from < SchemaVersion {
		return tx.Bucket(bMeta).Put([]byte("schema"), itob(SchemaVersion))
	}
	return nil
}
