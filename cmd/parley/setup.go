package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"parley/casestore"
	"parley/config"
	"parley/control"
	"parley/threading"
)

// commonFlags are --config and --data, shared by every command.
type commonFlags struct {
	config string
	data   string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (TOML); default: built-in defaults")
	fs.StringVar(&c.data, "data", "", "data folder (overrides data_dir)")
}

// load reads the config and applies --data. Relative paths in the file are
// relative to its folder; --data is relative to the current folder.
func (c *commonFlags) load() (config.Config, error) {
	cfg, err := config.Load(c.config)
	if err != nil {
		return cfg, err
	}
	if c.data != "" {
		cfg.DataDir = c.data
	}
	return cfg, nil
}

func keysPath(dataDir string) string { return filepath.Join(dataDir, "keys", "reply.keys") }

// reachData finds the data folder of cfg: the daemon's control socket when
// it runs (cl), else the bbolt file opened with opts (store). It never
// creates a data folder: a mistyped --data would otherwise answer with an
// empty store.
func reachData(cfg config.Config, opts casestore.Options) (cl *control.Client, store *casestore.Store, err error) {
	if _, err := os.Stat(casestore.DBPath(cfg.DataDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no Parley data in %s; run parley serve or parley init", cfg.DataDir)
	}
	if cl, err := control.Dial(cfg.DataDir); err == nil {
		return cl, nil, nil
	}
	store, err = casestore.Open(cfg.DataDir, opts)
	if errors.Is(err, casestore.ErrLocked) {
		return nil, nil, fmt.Errorf("%s is held by a running parley, but its control socket %s does not answer", cfg.DataDir, control.SocketPath(cfg.DataDir))
	}
	return nil, store, err
}

// admin returns the operations for the data folder: through the daemon's
// socket when it runs, else on the bbolt file directly. close releases it.
func admin(cf *commonFlags) (ops control.Interface, closeFn func(), err error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Resolve(); err != nil {
		return nil, nil, err
	}
	cl, store, err := reachData(cfg, casestore.Options{})
	if err != nil {
		return nil, nil, err
	}
	if cl != nil {
		return cl, func() {}, nil
	}
	keys, err := threading.LoadOrCreateKeys(keysPath(cfg.DataDir))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	loc, err := loadLocales(cfg)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return &control.Ops{Store: store, Keys: keys, Domain: cfg.Domain, Locales: loc, Languages: loc.Supported}, func() { store.Close() }, nil
}
