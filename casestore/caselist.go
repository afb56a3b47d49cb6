package casestore

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// createdKey is a case's key in cases_by_created: its opening time (nanoseconds,
// big-endian with the sign flipped so keys sort in time order) then its id.
func createdKey(c *Case) []byte {
	k := make([]byte, 8, 8+len(c.ID))
	binary.BigEndian.PutUint64(k, uint64(c.Created.UnixNano())^(1<<63))
	return append(k, c.ID...)
}

// MaxCasePage bounds one page of CasesPage.
const MaxCasePage = 10000

// CasesPage lists up to limit cases, newest first, starting after the case
// with id after ("" starts with the newest). It reads the page from the
// opening-time index, so its cost does not grow with the number of cases.
// more reports whether older cases follow the page.
func (t *Tx) CasesPage(limit int, after string) (cases []Case, more bool, err error) {
	if limit <= 0 || limit > MaxCasePage {
		limit = MaxCasePage
	}
	cur := t.tx.Bucket(bCasesByCreated).Cursor()
	var k []byte
	if after == "" {
		k, _ = cur.Last()
	} else {
		prev, err := t.Case(after)
		if err != nil {
			return nil, false, fmt.Errorf("--after: %w", err)
		}
		start := createdKey(prev)
		if k, _ = cur.Seek(start); k == nil {
			k, _ = cur.Last()
		}
		for k != nil && bytes.Compare(k, start) >= 0 {
			k, _ = cur.Prev()
		}
	}
	cb := t.tx.Bucket(bCases)
	for ; k != nil; k, _ = cur.Prev() {
		if len(cases) == limit {
			return cases, true, nil
		}
		v := cb.Get(k[8:])
		if v == nil {
			continue
		}
		var c Case
		if err := decodeRow(v, &c); err != nil {
			return nil, false, fmt.Errorf("case %s: %w", k[8:], err)
		}
		if !bytes.Equal(createdKey(&c), k) {
			continue // a stale entry: the case's time was changed
		}
		cases = append(cases, c)
	}
	return cases, false, nil
}
