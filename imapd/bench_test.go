package imapd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
	"parley/route"
)

const (
	benchCases   = 1000
	benchPerCase = 20 // 20,000 messages in all
)

// benchCaseID returns a valid case id for case i.
func benchCaseID(i int) string {
	const alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := []byte("BCH-0000")
	for j, n := 7, i; j >= 4; j-- {
		b[j] = alpha[n%32]
		n /= 32
	}
	return string(b)
}

// seedBench writes cases of perCase messages (about 2.5 KB each) straight
// into the store; a quarter of the cases are in mediation, so INBOX holds a
// quarter of the messages.
func seedBench(b *testing.B, h *harness, cases, perCase int) {
	body := strings.Repeat("The kettle I ordered arrived broken and leaks. I want a refund. ", 35)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < cases; start += 100 {
		h.update(func(tx *casestore.Tx) error {
			for i := start; i < min(start+100, cases); i++ {
				id := benchCaseID(i)
				state := casestore.StateOpen
				if i%4 == 0 {
					state = casestore.StateMediation
				}
				if err := tx.PutCase(&casestore.Case{ID: id, Created: now, State: state, Title: "Broken kettle",
					Trader: casestore.Party{Role: "trader", Name: fmt.Sprintf("Shop %d", i), Email: "shop@example.org"}}); err != nil {
					return err
				}
				for j := 0; j < perCase; j++ {
					role := []string{"consumer", "trader"}[j%2]
					raw := []byte(fmt.Sprintf("From: %s@example.org\r\nTo: case@%s\r\nSubject: [%s] Message %d\r\nDate: Thu, 01 Jan 2026 10:%02d:00 +0000\r\nMessage-ID: <%s.%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
						role, testDomain, id, j, j, id, j, body))
					if err := putBenchMessage(tx, id, route.Role(role), now.Add(time.Duration(i*perCase+j)*time.Second), raw); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
}

// putBenchMessage stores an inbound message of a case as the procedure
// leaves it, content inline.
func putBenchMessage(tx *casestore.Tx, caseID string, role route.Role, at time.Time, raw []byte) error {
	sum := sha256.Sum256(raw)
	hexsum := hex.EncodeToString(sum[:])
	mid, err := tx.NextMessageID()
	if err != nil {
		return err
	}
	if err := tx.PutRawInline(hexsum, raw); err != nil {
		return err
	}
	return tx.PutMessage(&casestore.Message{ID: mid, Received: at, SHA256: hexsum, Size: int64(len(raw)), CaseID: caseID,
		Role: role, Processed: true})
}

// BenchmarkMailbox measures a mailbox of 1,000 cases and 20,000 messages
// over real loopback IMAP: LIST of every folder, SELECT of a case, and FETCH
// of every envelope of a case folder and of INBOX (cold: bytes read from
// the store; warm: from the cache).
func BenchmarkMailbox(b *testing.B) {
	h := newHarness(b, beforeStart(func(h *harness) {
		seedBench(b, h, benchCases, benchPerCase)
		// The first index of an existing store, before the server starts.
		x := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger())
		start := time.Now()
		if err := x.refresh(); err != nil {
			b.Fatal(err)
		}
		b.Logf("first index of %d cases / %d messages: %v", benchCases, benchCases*benchPerCase, time.Since(start))
		start = time.Now()
		if err := newIndex(h.store, h.keys, testDomain, 1<<20, DefaultClosedFolders, h.logger()).refresh(); err != nil {
			b.Fatal(err)
		}
		b.Logf("start-up over an existing index: %v", time.Since(start))
	}))
	c := h.client(nil)

	b.Run("LIST", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			l, err := c.List("", "*", nil).Collect()
			if err != nil || len(l) < benchCases {
				b.Fatalf("LIST: %v, %d folders", err, len(l))
			}
		}
	})
	b.Run("SELECT case", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			name := fmt.Sprintf("Cases/%s-Shop-%d", benchCaseID(i%benchCases), i%benchCases)
			if sel, err := c.Select(name, nil).Wait(); err != nil || sel.NumMessages != benchPerCase {
				b.Fatalf("SELECT %s: %v %+v", name, err, sel)
			}
		}
	})
	fetch := func(b *testing.B, folder string, want uint32, cold bool) {
		sel, err := c.Select(folder, nil).Wait()
		if err != nil || sel.NumMessages != want {
			b.Fatalf("SELECT %s: %v %+v", folder, err, sel)
		}
		all := imap.SeqSet{}
		all.AddRange(1, want)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if cold {
				b.StopTimer()
				h.srv.idx.cache.forget("")
				b.StartTimer()
			}
			msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
			if err != nil || len(msgs) != int(want) {
				b.Fatalf("FETCH: %v, %d messages", err, len(msgs))
			}
		}
	}
	caseFolder := "Cases/" + benchCaseID(7) + "-Shop-7"
	b.Run("FETCH envelopes case/cold", func(b *testing.B) { fetch(b, caseFolder, benchPerCase, true) })
	b.Run("FETCH envelopes case/warm", func(b *testing.B) { fetch(b, caseFolder, benchPerCase, false) })
	inbox := uint32(benchCases / 4 * benchPerCase)
	b.Run("FETCH envelopes INBOX/cold", func(b *testing.B) { fetch(b, "INBOX", inbox, true) })
	b.Run("FETCH envelopes INBOX/warm", func(b *testing.B) { fetch(b, "INBOX", inbox, false) })
	b.Run("STATUS INBOX", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true}).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
