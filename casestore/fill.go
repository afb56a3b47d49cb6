package casestore

import bolt "go.etcd.io/bbolt"

// appendFill is how full bbolt fills a page it splits in the buckets whose
// keys grow with time. At bbolt's default of one half, a tree written in key
// order keeps every page it split half empty for good: on a store of a
// million cases `messages` was 47 % full (2.07 GB of pages for 0.98 GB of
// rows), `raw_seq` 57 %, `outbound` 39 %. The tenth left free takes a row
// that grows after it was written (an outbound row's last error) without a
// split. bbolt does not keep FillPercent in the file: it is set on each
// write transaction's bucket handles (tx.Bucket hands out the same handle
// for the rest of the transaction).
//
// Keyed by case id (random) or by content, the other buckets take inserts
// everywhere; a page split there fills again, and the default stays.
const appendFill = 0.9

// appendOnly lists the buckets whose keys are a sequence or start with a time.
var appendOnly = [][]byte{
	bMessages, bRawSeq, bOutbound, bJobs, bPersonalMsgs, // sequence ids
	bCasesByCreated, bMailClosed, // opening or closing time first
	bCasesByChange, // change sequence; a case's older entry is deleted
}

// fillAppendOnly sets appendFill on tx's append-only buckets.
func fillAppendOnly(tx *bolt.Tx) {
	for _, name := range appendOnly {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = appendFill
		}
	}
}
