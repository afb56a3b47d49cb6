package casestore

import (
	"bytes"
	"strings"
	"testing"
)

// The write transaction never writes a file: large outbound content must be
// in the blob folder before the transaction that names it.
func TestAddOutboundWritesNoFile(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	large := bytes.Repeat([]byte("x"), InlineMax+1)
	err = s.Update(func(tx *Tx) error { return tx.AddOutbound(&Outbound{CaseID: "C", To: "a@b.example"}, large) })
	if err == nil || !strings.Contains(err.Error(), "before the transaction") {
		t.Fatalf("large raw in the transaction: %v", err)
	}
	err = s.Update(func(tx *Tx) error {
		return tx.AddOutbound(&Outbound{CaseID: "C", To: "a@b.example", SHA256: strings.Repeat("ab", 32)}, nil)
	})
	if err == nil || !strings.Contains(err.Error(), "not in the blob folder") {
		t.Fatalf("a row naming content that is not stored: %v", err)
	}
	sum, _, err := s.Blobs.Put(bytes.NewReader(large))
	if err != nil {
		t.Fatal(err)
	}
	var o Outbound
	if err := s.Update(func(tx *Tx) error {
		o = Outbound{CaseID: "C", To: "a@b.example", SHA256: sum, Size: int64(len(large))}
		return tx.AddOutbound(&o, nil)
	}); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if tx.RawRefs(sum) != 1 {
			t.Errorf("refs %d", tx.RawRefs(sum))
		}
		return nil
	})
	small := []byte("From: a\r\n\r\nhi\r\n")
	if err := s.Update(func(tx *Tx) error { return tx.AddOutbound(&Outbound{CaseID: "C", To: "a@b.example"}, small) }); err != nil {
		t.Fatal(err)
	}
}
