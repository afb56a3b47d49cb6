package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"parley/casestore"
	"parley/threading"
)

// TestGenerate checks the generated store: every case there once with a
// valid id, the states as specified, purged cases only among those closed
// longer ago than the retention period, and the cases the measurements use.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	g, err := generate(context.Background(), dir, spec{Closed: 300, Open: 40, Now: now}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if g.Cases != 340 || len(g.Open) != 40 || len(g.Unpurged) == 0 || len(g.Unpurged) == 300 || g.Deep == "" {
		t.Fatalf("generated %d cases, %d open, %d closed unpurged, deep %q", g.Cases, len(g.Open), len(g.Unpurged), g.Deep)
	}
	// -reuse of a store without its generated.json reads the same from the store.
	again, err := scanGenerated(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cases != g.Cases || again.Deep != g.Deep || !slices.Equal(again.Open, g.Open) || !slices.Equal(again.Unpurged, g.Unpurged) {
		t.Errorf("read back from the store: %d cases, deep %s, %d open, %d unpurged; generated %d, %s, %d, %d",
			again.Cases, again.Deep, len(again.Open), len(again.Unpurged), g.Cases, g.Deep, len(g.Open), len(g.Unpurged))
	}
	s, err := casestore.Open(dir, casestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(func(tx *casestore.Tx) error {
		cases, err := tx.Cases()
		if err != nil {
			return err
		}
		states, err := tx.CaseStates()
		if err != nil {
			return err
		}
		if len(cases) != 340 || states[casestore.StateClosed] != 300 {
			t.Errorf("%d cases, states %v; want 340, 300 closed", len(cases), states)
		}
		purged := 0
		for _, c := range cases {
			if !threading.ValidCaseID(c.ID) {
				t.Errorf("case id %q is not shaped like Parley's", c.ID)
			}
			if c.Purged {
				purged++
				if c.Closed.Add(retention).After(now) || len(c.Timers) != 0 {
					t.Errorf("case %s purged, closed %v, timers %v", c.ID, c.Closed, c.Timers)
				}
			} else if len(c.Timers) != 1 {
				t.Errorf("case %s (%s) has %d timers, want 1", c.ID, c.State, len(c.Timers))
			}
			evs, err := tx.Events(c.ID)
			if err != nil {
				return err
			}
			if seq, reason := casestore.VerifyEvents(&c, evs); seq != 0 {
				t.Errorf("case %s: event %d: %s", c.ID, seq, reason)
			}
		}
		if purged+len(g.Unpurged) != 300 {
			t.Errorf("%d purged + %d unpurged closed cases, want 300", purged, len(g.Unpurged))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for n := range 200000 {
		id := caseID(n)
		if seen[id] {
			t.Fatalf("case id %s repeats at %d", id, n)
		}
		seen[id] = true
	}
}

// TestMeasureSize runs every measurement on a tiny store against the real
// daemon and bench/latency, built from this tree, and checks that each
// produced a figure. No figure is compared with a time.
func TestMeasureSize(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bins := t.TempDir()
	for _, b := range []string{"parley", "latency"} {
		pkg := map[string]string{"parley": "./cmd/parley", "latency": "./bench/latency"}[b]
		build := exec.Command("go", "build", "-o", filepath.Join(bins, b), pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	opt := options{Parley: filepath.Join(bins, "parley"), Latency: filepath.Join(bins, "latency"), Work: t.TempDir(),
		Open: 20, Sweep: 5, Repeat: 2, IngestRate: 100, IngestFor: time.Second, IngestClients: 2, Ready: 2 * time.Minute, IMAPWait: 2 * time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f, err := measureSize(ctx, opt, 60, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if f.Cases != 80 || f.IMAPListN != 20 || f.SweepN != 5 {
		t.Errorf("%d cases, %d IMAP case folders, %d swept; want 80, 20, 5", f.Cases, f.IMAPListN, f.SweepN)
	}
	for _, r := range rows {
		if v := r.value(f); v <= 0 && r.name != "retention sweep" {
			t.Errorf("%s: %v %s, want a figure above 0", r.name, v, r.unit)
		}
	}
}

// TestGenerateKept checks that a store keeps at least the Kept newest
// closed cases within the retention period, their timers not yet due, and
// that each kept message has the dedup row intake would have written.
func TestGenerateKept(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	g, err := generate(context.Background(), dir, spec{Closed: 300, Open: 10, Now: now, Kept: 250}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Unpurged) < 250 || len(g.Unpurged) == 300 {
		t.Fatalf("%d closed cases unpurged, want 250 to 299", len(g.Unpurged))
	}
	s, err := casestore.Open(dir, casestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(func(tx *casestore.Tx) error {
		var prev time.Time
		for _, id := range g.Unpurged {
			c, err := tx.Case(id)
			if err != nil {
				return err
			}
			if len(c.Timers) != 1 || !c.Timers[0].Due.After(now) {
				t.Errorf("case %s closed %v: timers %v, want one retention timer after %v", id, c.Closed, c.Timers, now)
			}
			if c.Created.Before(prev) {
				t.Errorf("case %s opened %v, before the case generated ahead of it (%v)", id, c.Created, prev)
			}
			prev = c.Created
			msgs, err := tx.CaseMessages(id)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if got := tx.Dedup(casestore.DedupKey(m.Target.String(), m.MessageID, m.SHA256)); got != m.ID {
					t.Errorf("case %s message %d: dedup row holds %d", id, m.ID, got)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
