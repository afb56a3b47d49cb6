package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"parley/casestore"
)

// maxManifest bounds the manifest read into memory.
const maxManifest = 256 << 20

// Restore writes the backup read from r into dir, which must be empty or
// absent. Members land in a staging folder inside dir first; only when every
// member matches the manifest (name, size, SHA-256; no member missing or
// extra) are they moved into place, so a damaged backup leaves dir empty.
// Files are written 0600 and folders 0700, whatever the tar says.
func Restore(r io.Reader, dir string) (*Manifest, error) {
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(stage)
	man, err := extract(r, stage)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(stage, casestore.BlobsDir), 0o700); err != nil { // even with no blob in it
		return nil, fmt.Errorf("restore: %w", err)
	}
	ents, err := os.ReadDir(stage)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(stage, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	if err := casestore.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return man, nil
}

// Verify reads a backup and checks every member against its manifest,
// writing nothing.
func Verify(r io.Reader) (*Manifest, error) { return extract(r, "") }

// emptyDir creates dir (0700) or checks that it is an empty folder.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("restore: %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore: %s is not empty (it holds %s%s): restore into a new or empty folder, so nothing there is overwritten", dir, ents[0].Name(), more(len(ents)-1))
	}
	return os.Chmod(dir, 0o700)
}

func more(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}

// extract writes every member under stage and checks them against the
// manifest, which must be the last member.
func extract(r io.Reader, stage string) (*Manifest, error) {
	tr := tar.NewReader(r)
	got := map[string]Member{}
	var man *Manifest
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a Parley backup (tar): %w", err)
		}
		if man != nil {
			return nil, fmt.Errorf("member %s after %s: not a Parley backup", hdr.Name, ManifestName)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("member %s is not a regular file", hdr.Name)
		}
		if hdr.Name == ManifestName {
			man = &Manifest{}
			if err := json.NewDecoder(io.LimitReader(tr, maxManifest)).Decode(man); err != nil {
				return nil, fmt.Errorf("%s: %w", ManifestName, err)
			}
			continue
		}
		if err := checkName(hdr.Name); err != nil {
			return nil, err
		}
		if _, dup := got[hdr.Name]; dup {
			return nil, fmt.Errorf("member %s appears twice", hdr.Name)
		}
		m, err := writeMember(stage, hdr.Name, tr)
		if err != nil {
			return nil, err
		}
		got[hdr.Name] = m
	}
	if man == nil {
		return nil, fmt.Errorf("no %s: the file is cut short or not a Parley backup", ManifestName)
	}
	if man.Format != Format {
		return nil, fmt.Errorf("backup format %d; this program reads format %d", man.Format, Format)
	}
	for _, want := range man.Members {
		have, ok := got[want.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is in the manifest but not in the file", want.Name)
		case have.Size != want.Size || have.SHA256 != want.SHA256:
			return nil, fmt.Errorf("%s is damaged: %d bytes hashing to %s, the manifest says %d bytes hashing to %s", want.Name, have.Size, have.SHA256, want.Size, want.SHA256)
		}
		delete(got, want.Name)
	}
	for name := range got {
		return nil, fmt.Errorf("%s is in the file but not in the manifest", name)
	}
	return man, nil
}

// checkName accepts a local, clean, slash-separated path; a blob's name must
// be its digest.
func checkName(name string) error {
	if !filepath.IsLocal(name) || path.Clean(name) != name || strings.Contains(name, `\`) || strings.HasPrefix(name, ".restore-") {
		return fmt.Errorf("member name %q is not a path inside a data folder", name)
	}
	if rest, ok := strings.CutPrefix(name, "blobs/"); ok {
		dir, sum, _ := strings.Cut(rest, "/")
		if !casestore.IsDigest(sum) || dir != sum[:2] {
			return fmt.Errorf("member %s is not named like a blob", name)
		}
	}
	return nil
}

// writeMember writes one member (0600, folders 0700), fsynced, and returns
// its size and digest; a blob's content must match its name.
// With stage "", it only reads and hashes.
func writeMember(stage, name string, r io.Reader) (Member, error) {
	h := sha256.New()
	var n int64
	var err error
	if stage == "" {
		n, err = io.Copy(h, r)
	} else {
		n, err = writeFile(filepath.Join(stage, filepath.FromSlash(name)), io.TeeReader(r, h))
	}
	if err != nil {
		return Member{}, fmt.Errorf("%s: %w", name, err)
	}
	m := Member{Name: name, Size: n, SHA256: hexSum(h)}
	if strings.HasPrefix(name, "blobs/") && path.Base(name) != m.SHA256 {
		return m, fmt.Errorf("%s is damaged: its content hashes to %s", name, m.SHA256)
	}
	return m, nil
}

// writeFile creates p (0600, its folders 0700) with r's content, fsynced.
func writeFile(p string, r io.Reader) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
