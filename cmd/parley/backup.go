package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"parley/backup"
	"parley/casestore"
	"parley/config"
	"parley/control"
)

// cmdBackup writes a backup: parley backup -o FILE.tar.
func cmdBackup(args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	out := fs.String("o", "", "the tar file to write")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("backup: where to? parley backup -o FILE.tar")
	}
	cfg, err := resolved(&cf)
	if err != nil {
		return err
	}
	if inside(*out, cfg.DataDir) {
		return fmt.Errorf("backup: %s is inside the data folder %s; write the backup elsewhere", *out, cfg.DataDir)
	}
	ops, done, err := dataOps(cfg, false)
	if err != nil {
		return err
	}
	defer done()
	// Read the file back against its manifest before it takes its name.
	var man *backup.Manifest
	err = writeFileAtomic(*out, func(f *os.File) error {
		if err := ops.Backup(f); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if man, err = backup.Verify(f); err != nil {
			return fmt.Errorf("the file written does not check: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Printf("backup of %s written to %s and checked: %d cases, %d blobs, %d files\n", man.Source, *out, man.Cases, man.Blobs, len(man.Members))
	return nil
}

// cmdRestore makes a data folder from a backup: parley restore FILE.tar --data DIR.
func cmdRestore(args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if cf.data == "" && cf.config == "" {
		return fmt.Errorf("restore: where to? parley restore FILE.tar --data DIR (a new or empty folder)")
	}
	cfg, err := resolved(&cf)
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	man, err := backup.Restore(f, cfg.DataDir)
	if err != nil {
		return err
	}
	store, err := casestore.Open(cfg.DataDir, casestore.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("restore: the restored folder does not open: %w", err)
	}
	defer store.Close()
	rep, err := backup.Check(store, backup.CheckOptions{})
	if err != nil {
		return err
	}
	printFsck(cfg.DataDir, rep)
	if !rep.OK() {
		return fmt.Errorf("restore: %s restored from a backup of %s taken %s, but it does not check (above)", cfg.DataDir, man.Source, man.Created.Format(time.RFC3339))
	}
	fmt.Printf("restored %s from a backup of %s taken %s\n", cfg.DataDir, man.Source, man.Created.Format(time.RFC3339))
	return nil
}

// cmdFsck checks a data folder: parley fsck [--repair].
func cmdFsck(args []string) error {
	fs := flag.NewFlagSet("fsck", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	var req control.FsckRequest
	fs.BoolVar(&req.Repair, "repair", false, "remove the unreferenced blobs (nothing else)")
	fs.DurationVar(&req.MinAge, "min-age", time.Hour, "leave unreferenced blobs younger than this (a message may be in flight)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := resolved(&cf)
	if err != nil {
		return err
	}
	ops, done, err := dataOps(cfg, req.Repair)
	if err != nil {
		return err
	}
	defer done()
	rep, err := ops.Fsck(req)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSON(rep)
	} else {
		printFsck(cfg.DataDir, rep)
	}
	if !rep.OK() {
		hint := ""
		if n := len(rep.Unreferenced) - len(rep.Removed); n > 0 {
			hint = "; parley fsck --repair removes the unreferenced blobs"
		}
		return fmt.Errorf("fsck %s: %d blob(s) missing, %d unreferenced, %d case(s) with a broken event chain%s",
			cfg.DataDir, len(rep.Missing), len(rep.Unreferenced)-len(rep.Removed), len(rep.Broken), hint)
	}
	return nil
}

func printFsck(dir string, rep *backup.Report) {
	fmt.Printf("%s: %d cases, %d events, %d blob files, %d referenced\n", dir, rep.Cases, rep.Events, rep.BlobFiles, rep.Referenced)
	for _, p := range rep.Missing {
		fmt.Printf("MISSING blob %s: %s\n", p.SHA256, p.Problem)
	}
	removed := map[string]bool{}
	for _, s := range rep.Removed {
		removed[s] = true
	}
	for _, s := range rep.Unreferenced {
		if removed[s] {
			fmt.Printf("REMOVED unreferenced blob %s\n", s)
		} else {
			fmt.Printf("UNREFERENCED blob %s\n", s)
		}
	}
	for _, s := range rep.Young {
		fmt.Printf("young unreferenced blob %s left alone (a message may be in flight)\n", s)
	}
	for _, s := range rep.Strays {
		fmt.Printf("STRAY file blobs/%s (not a blob; left alone)\n", s)
	}
	for _, b := range rep.Broken {
		fmt.Printf("BROKEN case %s at event %d: %s\n", b.Case, b.Seq, b.Reason)
	}
}

// writeFileAtomic writes path through write on a temporary file beside it,
// fsyncs it and renames it into place: a failure leaves no half file.
func writeFileAtomic(path string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".parley-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// resolved is the config with --data applied and resolved.
func resolved(cf *commonFlags) (config.Config, error) {
	cfg, err := cf.load()
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Resolve()
}

// dataOps reaches the data folder for backup and fsck: through the daemon's
// socket when it runs, else on the bbolt file, opened read-only unless
// writable (fsck --repair), which then takes the file's only lock.
func dataOps(cfg config.Config, writable bool) (control.Interface, func(), error) {
	cl, store, err := reachData(cfg, casestore.Options{ReadOnly: !writable})
	if err != nil {
		return nil, nil, err
	}
	if cl != nil {
		return cl, func() {}, nil
	}
	return &control.Ops{Store: store}, func() { store.Close() }, nil
}

// inside reports whether path is within dir.
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
