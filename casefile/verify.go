package casefile

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"parley/casestore"
)

// Problem is one thing in a case file that does not match.
type Problem struct {
	Path   string
	Reason string
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Verify checks a case file: every file against the manifest's digest, no
// file missing or added, and the event log's hash chain against the head the
// manifest records. It returns what does not match (nil: intact).
func Verify(r io.ReaderAt, size int64) (*Manifest, []Problem, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, nil, fmt.Errorf("not a zip file: %w", err)
	}
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
	}
	mf, ok := entries["manifest.json"]
	if !ok {
		return nil, nil, fmt.Errorf("no manifest.json: not a Parley case file")
	}
	var man Manifest
	if err := readJSON(mf, &man); err != nil {
		return nil, nil, fmt.Errorf("manifest.json: %w", err)
	}
	if man.Format != Format {
		return nil, nil, fmt.Errorf("manifest format %q, want %q", man.Format, Format)
	}
	var problems []Problem
	listed := map[string]bool{"manifest.json": true}
	for _, f := range man.Files {
		listed[f.Path] = true
		e, ok := entries[f.Path]
		if !ok {
			problems = append(problems, Problem{f.Path, "listed in the manifest but missing"})
			continue
		}
		sum, n, err := digest(e)
		switch {
		case err != nil:
			problems = append(problems, Problem{f.Path, "unreadable: " + err.Error()})
		case sum != f.SHA256:
			problems = append(problems, Problem{f.Path, fmt.Sprintf("SHA-256 %s, manifest says %s", sum, f.SHA256)})
		case n != f.Size:
			problems = append(problems, Problem{f.Path, fmt.Sprintf("%d bytes, manifest says %d", n, f.Size)})
		}
	}
	for name := range entries {
		if !listed[name] {
			problems = append(problems, Problem{name, "not listed in the manifest"})
		}
	}
	if e, ok := entries["events.json"]; ok && man.Case != nil {
		var evs []casestore.Event
		if err := readJSON(e, &evs); err != nil {
			problems = append(problems, Problem{"events.json", err.Error()})
		} else {
			head := *man.Case
			head.Events, head.LastHash = man.EventCount, man.EventHead
			if seq, why := casestore.VerifyEvents(&head, evs); seq != 0 {
				problems = append(problems, Problem{"events.json", fmt.Sprintf("event %d: %s", seq, why)})
			}
			// Every message and evidence file must be named by the chain, so
			// changing a file and its manifest line together is still caught
			// (unless the chain is rebuilt, which changes its head).
			covered := map[string]bool{}
			for i, ev := range evs {
				covered[ev.Digest] = true
				if ev.Kind == casestore.EvClosed {
					man.Closing = &evs[i]
				}
			}
			for _, f := range man.Files {
				if (f.Kind == "message-in" || f.Kind == "message-out" || f.Kind == "evidence") && !covered[f.SHA256] {
					problems = append(problems, Problem{f.Path, "its SHA-256 is not recorded in the event chain"})
				}
			}
		}
	} else {
		problems = append(problems, Problem{"events.json", "missing"})
	}
	return &man, problems, nil
}

func digest(f *zip.File) (string, int64, error) {
	r, err := f.Open()
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func readJSON(f *zip.File, v any) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	return json.NewDecoder(io.LimitReader(r, 256<<20)).Decode(v)
}
