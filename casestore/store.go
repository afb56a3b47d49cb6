// Package casestore owns Parley's state: one bbolt file (cases, parties,
// traders, messages, events, jobs, outbound rows, indexes, schema version) and
// a folder of write-once content-addressed blobs for raw messages too large to
// keep inline.
//
// Writes go through a group committer: concurrent callers' functions run in one
// bbolt transaction and share its fsync, so a durable commit per SMTP message
// does not cost one fsync per message. A function passed to Update may run more
// than once (when another function in its batch fails, the batch is retried
// without it), so it must only touch the transaction it is given.
package casestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version of the bbolt file; Open refuses newer
// files and migrates older ones (migrate.go).
const SchemaVersion = 7

var (
	bMeta       = []byte("meta")
	bTraders    = []byte("traders")
	bTraderMail = []byte("traders_by_email")
	bCases      = []byte("cases")
	bMessages   = []byte("messages")
	bCaseMsgs   = []byte("messages_by_case")
	// bCaseMsgCounts: case id -> how many keys it has in messages_by_case (8 bytes BE).
	bCaseMsgCounts = []byte("messages_by_case_counts")
	bDedup         = []byte("dedup")
	bRaw           = []byte("raw")
	bRawRefs       = []byte("raw_refs")
	bEvents        = []byte("events")
	bJobs          = []byte("jobs")
	bOutbound      = []byte("outbound")
	bOutQueued     = []byte("outbound_queued")
	bOutByCase     = []byte("outbound_by_case")
	bTimers        = []byte("timers")
	// bParkedTimers lists "CASE/KIND" of timers taken out of the schedule.
	bParkedTimers = []byte("timers_parked")
	// bTranslations caches machine translations by engine, pair and text digest.
	bTranslations = []byte("translations")
	bEvidence     = []byte("evidence")
	// bCasesByCreated indexes cases by opening time ("case list" pages).
	bCasesByCreated = []byte("cases_by_created")
	bMediators      = []byte("mediators")
	allBuckets      = append([][]byte{bMeta, bTraders, bTraderMail, bCases, bMessages, bCaseMsgs, bCaseMsgCounts, bDedup, bRaw, bRawRefs, bRawSeq, bEvents, bJobs, bOutbound, bOutQueued, bOutByCase, bTimers, bParkedTimers, bTranslations, bMediators, bEvidence, bCasesByCreated, bCaseChange, bCasesByChange, bCaseCounts, bCaseless}, append(mailBuckets, personalBuckets...)...)
)

// ErrLocked means another process (normally the running daemon) holds the database.
var ErrLocked = errors.New("database is locked by another process")

// ErrNotFound is returned for a missing case, trader, message or outbound row.
var ErrNotFound = errors.New("not found")

// Options configure Open.
type Options struct {
	// LockTimeout bounds the wait for bbolt's file lock; zero means 1 second.
	LockTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBatch bounds how many callers share one commit; zero means 512.
	MaxBatch int
	// Gather is how long a commit waits for more callers when the last one
	// carried several (commitLoop); zero means 1 ms, negative never waits.
	Gather time.Duration
	// ReadOnly opens an existing file for reading only (a shared lock, so
	// beside other readers but never beside the daemon): for backup and fsck.
	// Update then fails.
	ReadOnly bool
}

// Store is the open database plus its blob folder.
type Store struct {
	db       *bolt.DB
	dir      string
	Blobs    *Blobs
	now      func() time.Time
	commits  chan *commitReq
	maxBatch int
	gather   time.Duration
	commitsN atomic.Uint64 // commits that succeeded
	callersN atomic.Uint64 // Update callers those commits carried
	busyNs   atomic.Int64  // time in write transactions of the committer, retried ones included
	// The page writes and write time of Open's own transaction (schema,
	// migrations), which CommitStats leaves out: it counts the committer's.
	openWrites    int64
	openWriteTime time.Duration
	stopped       chan struct{}
	closeMu       sync.RWMutex
	closed        bool
	watchMu       sync.Mutex
	watches       []*Watch
}

// DBPath is the bbolt file of the data folder dir; a folder without it holds
// no Parley data.
func DBPath(dir string) string { return filepath.Join(dir, DBFile) }

// DBFile and BlobsDir are the names of the bbolt file and the blob folder
// inside a data folder.
const (
	DBFile   = "parley.db"
	BlobsDir = "blobs"
)

// Open opens (creating if needed) DIR/parley.db and DIR/blobs. The folder is
// created with mode 0700 and the file with 0600.
func Open(dir string, opts Options) (*Store, error) {
	path := DBPath(dir)
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no Parley data in %s: %w", dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder %s: %w", dir, err)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 512
	}
	if opts.Gather == 0 {
		opts.Gather = time.Millisecond
	}
	db, err := openLocked(path, bolt.Options{
		ReadOnly:       opts.ReadOnly,
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	schema := initSchema
	if opts.ReadOnly {
		schema = checkSchema
	}
	if err := schema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	blobs := &Blobs{dir: filepath.Join(dir, BlobsDir)}
	if !opts.ReadOnly {
		if blobs, err = OpenBlobs(blobs.dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	opened := db.Stats().TxStats
	s := &Store{
		db: db, dir: dir, Blobs: blobs, now: opts.Now,
		commits: make(chan *commitReq, 4096), maxBatch: opts.MaxBatch, gather: opts.Gather,
		stopped:    make(chan struct{}),
		openWrites: opened.GetWrite(), openWriteTime: opened.GetWriteTime(),
	}
	blobs.removeDeferred = func(sum string) { s.RemoveUnreferencedBlob(sum, nil) }
	go s.commitLoop()
	return s, nil
}

func initSchema(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		fillAppendOnly(tx) // a migration may write a whole index
		meta := tx.Bucket(bMeta)
		if v := meta.Get([]byte("schema")); v != nil {
			n := btoi(v)
			if n > SchemaVersion {
				return fmt.Errorf("schema version %d is newer than this program's %d", n, SchemaVersion)
			}
			return migrate(tx, n)
		}
		return meta.Put([]byte("schema"), itob(SchemaVersion))
	})
}

// checkSchema is initSchema for a file opened read-only: every bucket must
// be there already, at a version this program reads.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %s missing: start parley serve on this folder once to bring it up to date", name)
			}
		}
		if n := btoi(tx.Bucket(bMeta).Get([]byte("schema"))); n > SchemaVersion {
			return fmt.Errorf("schema version %d is newer than this program's %d", n, SchemaVersion)
		}
		return nil
	})
}

// Dir is the data folder.
func (s *Store) Dir() string { return s.dir }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Close stops the committer and closes the file. Pending Update calls finish first.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.commits)
	s.closeMu.Unlock()
	<-s.stopped
	var err error
	if !s.db.IsReadOnly() {
		err = writeFreelist(s.db)
	}
	return errors.Join(err, s.db.Close())
}

// writeFreelist writes bbolt's list of free pages into the file, once: as
// the store closes, and into a compacted copy. Commits skip it
// (NoFreelistSync: a large list written per commit would slow every commit),
// so without it the next Open rebuilds the list by reading every page of the
// file: at a million cases, a minute and the whole file in memory. After a
// clean Close the next Open reads the list instead, and its first commit
// drops it again, so a crash still leaves a file whose list is rebuilt from
// the pages.
func writeFreelist(db *bolt.DB) error {
	db.NoFreelistSync = false
	if err := db.Update(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("write the free page list of %s: %w", db.Path(), err)
	}
	return nil
}

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("store is closed")

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, s: s}) })
}

type commitReq struct {
	fn   func(*Tx) error
	done chan error
}

// Update runs fn in a read-write transaction shared with concurrent callers and
// returns once that transaction is durably committed (or failed).
func (s *Store) Update(fn func(*Tx) error) error {
	req := &commitReq{fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.commits <- req
	s.closeMu.RUnlock()
	return <-req.done
}

// PanicError is a panic turned into an error, with the stack it came from.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// callProtected runs a caller's function in the committer's transaction, a
// panic coming back as that caller's *PanicError. The committer's goroutine
// runs every caller's function: unrecovered, a panic there would end the
// process whatever the caller recovers, and bbolt would first roll the
// transaction back the costly way (with the free page list not in the file,
// by reading every page of it: a million cases, 6 to 9 GB).
func callProtected(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return fn(tx)
}

type batchFailure struct {
	index int
	err   error
}

func (b *batchFailure) Error() string { return b.err.Error() }

// commitLoop is the group committer: it takes every request that is waiting,
// runs them in one transaction, and commits once. While a commit is in flight
// new requests queue up and form the next batch, so under load each fsync
// carries many messages and under no load nobody waits for a timer.
//
// Under load it also gathers: when the last commit carried more than one
// caller, the next one waits up to the gather time until it has as many
// (those callers are likely to come back) before it starts. A commit
// rewrites every page its callers touched (a message touches some fifteen
// buckets, each a leaf and its branches), so callers that share a commit
// share those pages: at 1,000 messages a second on bench/ingest.sh a commit
// carried 3.7 callers and wrote 34 pages; gathering for 1 ms raised that to
// about 6 callers and cut the CPU a message costs by about 15 %. A lone
// caller (no load) never waits.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*commitReq, 0, s.maxBatch)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	last := 0
	for req := range s.commits {
		batch = append(batch[:0], req)
		if s.gather > 0 && last > 1 {
			gather.Reset(s.gather)
			batch = s.take(batch, min(last, s.maxBatch), gather.C)
			gather.Stop()
		}
		batch = s.take(batch, s.maxBatch, nil)
		last = len(batch)
		s.runBatch(batch)
	}
}

// take adds waiting requests to batch until it holds n. With until nil it
// takes only those already queued; otherwise it waits for more until that
// channel fires.
func (s *Store) take(batch []*commitReq, n int, until <-chan time.Time) []*commitReq {
	for len(batch) < n {
		if until == nil {
			select {
			case r, ok := <-s.commits:
				if !ok {
					return batch
				}
				batch = append(batch, r)
			default:
				return batch
			}
			continue
		}
		select {
		case r, ok := <-s.commits:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		case <-until:
			return batch
		}
	}
	return batch
}

// CommitStats counts the store's commits since Open, for the metrics: how
// many callers a commit carries, how many pages it writes and where its
// time goes.
type CommitStats struct {
	Commits    uint64 // commits that succeeded
	Callers    uint64 // Update calls they carried
	PageWrites uint64 // page writes (one per page or run of overflow pages) of every commit
	// CommitTime is the committer's time in write transactions: the
	// callers' work, bbolt's spill, the writes and the fsyncs. Against the
	// wall clock it is how busy the one writer is.
	CommitTime time.Duration
	// WriteTime is the part spent writing pages and the meta page, each
	// write followed by fdatasync: the disk's share.
	WriteTime time.Duration
}

// CommitStats reads the counters.
func (s *Store) CommitStats() CommitStats {
	st := s.db.Stats()
	return CommitStats{Commits: s.commitsN.Load(), Callers: s.callersN.Load(), PageWrites: uint64(st.TxStats.GetWrite() - s.openWrites),
		CommitTime: time.Duration(s.busyNs.Load()), WriteTime: st.TxStats.GetWriteTime() - s.openWriteTime}
}

func (s *Store) runBatch(batch []*commitReq) {
	for len(batch) > 0 {
		var tx *Tx
		start := time.Now()
		err := s.db.Update(func(btx *bolt.Tx) error {
			fillAppendOnly(btx)
			tx = &Tx{tx: btx, s: s, cases: map[string]*Case{}}
			for i, r := range batch {
				if err := callProtected(r.fn, tx); err != nil {
					return &batchFailure{index: i, err: err}
				}
			}
			return tx.recordChanges()
		})
		s.busyNs.Add(int64(time.Since(start)))
		var bf *batchFailure
		if errors.As(err, &bf) {
			batch[bf.index].done <- bf.err
			batch = append(batch[:bf.index:bf.index], batch[bf.index+1:]...)
			continue
		}
		if err == nil {
			s.commitsN.Add(1)
			s.callersN.Add(uint64(len(batch)))
			s.notify(tx)
		}
		for _, r := range batch {
			r.done <- err
		}
		return
	}
}
