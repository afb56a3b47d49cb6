package backup

import (
	"crypto/sha256"
	"fmt"
	"io"

	"slices"
	"strings"
	"time"

	"parley/casestore"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// Repair removes the unreferenced blobs (and nothing else).
	Repair bool
	// MinAge spares unreferenced blobs younger than this: a blob is written
	// before the transaction that references it commits, so a young one may
	// be a message in flight. Zero means no grace.
	MinAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// BlobProblem is a referenced blob that cannot be read back.
type BlobProblem struct {
	SHA256  string `json:"sha256"`
	Problem string `json:"problem"`
}

// ChainProblem is a case whose event log does not verify.
type ChainProblem struct {
	Case   string `json:"case"`
	Seq    uint64 `json:"bad_event"`
	Reason string `json:"reason"`
}

// Report is what Check found.
type Report struct {
	Cases     int `json:"cases"`
	Events    int `json:"events"`
	BlobFiles int `json:"blob_files"`
	// Referenced is how many blobs the database counts references to.
	Referenced int `json:"referenced"`
	// Missing are referenced blobs absent or with content that does not
	// hash to their name.
	Missing []BlobProblem `json:"missing,omitempty"`
	// Unreferenced are blob files nothing references (what --repair removes).
	Unreferenced []string `json:"unreferenced,omitempty"`
	// Young are unreferenced blobs younger than MinAge, left alone.
	Young []string `json:"young,omitempty"`
	// Strays are files in the blob folder not named like a blob; reported,
	// never removed.
	Strays []string `json:"strays,omitempty"`
	// Broken are the cases whose event chain does not verify.
	Broken []ChainProblem `json:"broken,omitempty"`
	// Removed are the blobs --repair removed.
	Removed []string `json:"removed,omitempty"`
}

// OK reports whether nothing is missing, broken or (after a repair) left unreferenced.
func (r *Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Broken) == 0 && len(r.Unreferenced) == len(r.Removed)
}

// Check verifies the store: every case's event chain (casestore.VerifyEvents,
// what `parley case verify` runs), every referenced blob present with the
// content its name says, and no blob file without a reference. With Repair
// it removes the unreferenced blobs, each in a write transaction that
// re-checks its reference count (casestore.Store.RemoveUnreferencedBlob), so
// it is safe beside a running daemon when run inside it.
func Check(store *casestore.Store, opts CheckOptions) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &Report{}
	var refs casestore.BlobRefs
	err := store.View(func(tx *casestore.Tx) error {
		var err error
		if refs, err = tx.BlobRefs(); err != nil {
			return err
		}
		cases, err := tx.Cases()
		if err != nil {
			return err
		}
		rep.Cases = len(cases)
		for i := range cases {
			c := &cases[i]
			evs, err := tx.Events(c.ID)
			if err != nil {
				return err
			}
			rep.Events += len(evs)
			if seq, reason := casestore.VerifyEvents(c, evs); seq != 0 {
				rep.Broken = append(rep.Broken, ChainProblem{Case: c.ID, Seq: seq, Reason: reason})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsck: %w", err)
	}
	rep.Referenced = len(refs.Counted)
	sums, strays, err := store.Blobs.List()
	if err != nil {
		return nil, fmt.Errorf("fsck: %w", err)
	}
	rep.BlobFiles, rep.Strays = len(sums), strays
	present := map[string]bool{}
	for _, sum := range sums {
		present[sum] = true
		got, mtime, err := hashBlob(store.Blobs, sum)
		if err != nil {
			return nil, fmt.Errorf("fsck: %w", err)
		}
		switch {
		case refs.Keeps(sum) && got != sum:
			rep.Missing = append(rep.Missing, BlobProblem{SHA256: sum, Problem: "damaged: its content hashes to " + got})
		case refs.Keeps(sum):
		case opts.Now().Sub(mtime) < opts.MinAge:
			rep.Young = append(rep.Young, sum)
		default:
			rep.Unreferenced = append(rep.Unreferenced, sum)
		}
	}
	for sum := range refs.Counted {
		if !present[sum] {
			rep.Missing = append(rep.Missing, BlobProblem{SHA256: sum, Problem: "absent"})
		}
	}
	slices.SortFunc(rep.Missing, func(a, b BlobProblem) int { return strings.Compare(a.SHA256, b.SHA256) })
	if opts.Repair {
		for _, sum := range rep.Unreferenced {
			removed, err := store.RemoveUnreferencedBlob(sum, refs.Named)
			if err != nil {
				return rep, fmt.Errorf("fsck --repair: %w", err)
			}
			if removed {
				rep.Removed = append(rep.Removed, sum)
			}
		}
	}
	return rep, nil
}

// hashBlob returns the SHA-256 of a blob file's content and its mtime.
func hashBlob(blobs *casestore.Blobs, sum string) (string, time.Time, error) {
	f, err := blobs.Open(sum)
	if err != nil {
		return "", time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", time.Time{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", time.Time{}, fmt.Errorf("read blob %s: %w", sum, err)
	}
	return hexSum(h), st.ModTime(), nil
}
