package casestore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkIngestPageWrites commits ingest-like work (7 messages a commit:
// inline raw content, message row, reference count, duplicate key) into
// the store in PARLEY_BENCH_STORE, a data folder that bench/scale.sh left
// (WORK=DIR), and reports the page writes a commit, to compare stores of
// different sizes. It adds its rows to that store: use a benchmark's own.
//
//	PARLEY_BENCH_STORE=DIR/closed-1000000/data go test -run - -bench IngestPageWrites ./casestore
func BenchmarkIngestPageWrites(b *testing.B) {
	dir := os.Getenv("PARLEY_BENCH_STORE")
	if dir == "" {
		b.Skip("PARLEY_BENCH_STORE is not set")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := strings.Repeat("x", 5000)
	st0 := s.db.Stats()
	n := 0
	for b.Loop() {
		err := s.Update(func(tx *Tx) error {
			for k := 0; k < 7; k++ {
				n++
				raw := fmt.Sprintf("probe %d %p %s", n, &n, body)
				sum := sha256.Sum256([]byte(raw))
				h := hex.EncodeToString(sum[:])
				if err := tx.PutRawInline(h, []byte(raw)); err != nil {
					return err
				}
				id, err := tx.NextMessageID()
				if err != nil {
					return err
				}
				if err := tx.PutMessage(&Message{ID: id, SHA256: h}); err != nil {
					return err
				}
				if _, err := tx.RefRaw(h, 1); err != nil {
					return err
				}
				// Keyed as intake keys it: the target first, so one case's keys are neighbours.
				if err := tx.SetDedup(DedupKey("party:probe:trader", fmt.Sprintf("<%d@probe.example>", n), h), id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st1 := s.db.Stats()
	b.ReportMetric(float64(st1.TxStats.GetWrite()-st0.TxStats.GetWrite())/float64(b.N), "pagewrites/commit")
}
