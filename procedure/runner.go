package procedure

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"parley/casestore"
)

// Runner feeds committed jobs to a fixed number of workers. Jobs with the same
// shard (one case, or one intake sender) go to the same worker, in order.
type Runner struct {
	e      *Engine
	shards []*shardQueue
	wg     sync.WaitGroup
	retry  retryPolicy
	// batchTime bounds the preparing of one batch (its jobs' own; reading
	// ahead is not counted): jobs slow to prepare (a complaint read in 26
	// languages) commit a few at a time, so the work
	// done before a crash is kept and the next shard's turn comes soon.
	// Without it a daemon killed every few seconds redid the same 64
	// complaints at every start and never committed one.
	batchTime time.Duration
	elapsed   func(since time.Time) time.Duration // time.Since; tests replace it
}

// shardQueue is one worker's queue. Several shards share a worker (by hash),
// so it keeps each shard's jobs apart, in order, and serves the shards in
// turn, a batch each: a flood from one intake sender delays a case that
// hashes to the same worker by one batch, not by the whole flood, as
// Postfix's queue manager serves destinations in turn.
type shardQueue struct {
	mu     sync.Mutex
	turn   []string                   // shards with queued jobs, in serving order
	queued map[string][]casestore.Job // each shard's jobs, oldest first
	n      int                        // jobs queued in all
	wake   chan struct{}
}

func (q *shardQueue) push(j casestore.Job) {
	if q.queued == nil {
		q.queued = map[string][]casestore.Job{}
	}
	if len(q.queued[j.Shard]) == 0 {
		q.turn = append(q.turn, j.Shard)
	}
	q.queued[j.Shard] = append(q.queued[j.Shard], j)
	q.n++
}

// next is up to max of the oldest jobs of the shard whose turn it is.
func (q *shardQueue) next(max int) []casestore.Job {
	if len(q.turn) == 0 {
		return nil
	}
	jobs := q.queued[q.turn[0]]
	return append([]casestore.Job(nil), jobs[:min(len(jobs), max)]...)
}

// done drops the first n jobs of the shard whose turn it was (jobs pushed
// meanwhile went behind them) and passes the turn to the next shard.
func (q *shardQueue) done(n int) {
	key := q.turn[0]
	rest := q.queued[key][n:]
	q.n -= n
	q.turn = q.turn[1:]
	if len(rest) == 0 {
		delete(q.queued, key)
		return
	}
	q.queued[key] = rest
	q.turn = append(q.turn, key)
}

// NewRunner makes a runner with n workers.
func NewRunner(e *Engine, n int) *Runner {
	r := &Runner{e: e, retry: retryPolicy{attempts: 5, first: time.Second, most: 30 * time.Second},
		batchTime: 50 * time.Millisecond, elapsed: time.Since}
	for i := 0; i < n; i++ {
		r.shards = append(r.shards, &shardQueue{wake: make(chan struct{}, 1)})
	}
	return r
}

// Submit hands committed jobs to their workers; it never blocks on processing.
func (r *Runner) Submit(jobs ...casestore.Job) {
	for _, j := range jobs {
		h := fnv.New32a()
		h.Write([]byte(j.Shard))
		q := r.shards[h.Sum32()%uint32(len(r.shards))]
		q.mu.Lock()
		q.push(j)
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// Start loads the jobs left by a previous run and starts the workers. They stop
// when ctx is done; Wait waits for them.
func (r *Runner) Start(ctx context.Context) error {
	var pending []casestore.Job
	if err := r.e.store.View(func(tx *casestore.Tx) (err error) { pending, err = tx.Jobs(); return err }); err != nil {
		return err
	}
	r.Submit(pending...)
	for _, q := range r.shards {
		r.wg.Add(1)
		go r.work(ctx, q)
	}
	return nil
}

// Wait blocks until every worker stopped.
func (r *Runner) Wait() { r.wg.Wait() }

// Idle reports whether no job is queued in memory (for tests and shutdown logs).
func (r *Runner) Idle() bool {
	for _, q := range r.shards {
		q.mu.Lock()
		n := q.n
		q.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}

// maxBatch bounds how many of a shard's queued jobs share one commit.
const maxBatch = 64

// aheadChunk is how many jobs of a batch are read ahead at a time (parsed,
// their senders checked): a batch that batchTime cuts short leaves at most
// that many readings to be done again with the next.
const aheadChunk = 16

func (r *Runner) work(ctx context.Context, q *shardQueue) {
	defer r.wg.Done()
	for ctx.Err() == nil {
		q.mu.Lock()
		batch := q.next(maxBatch)
		q.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		done := r.runBatch(ctx, batch)
		q.mu.Lock()
		q.done(done)
		q.mu.Unlock()
	}
}

// runBatch prepares consecutive jobs of one shard and commits them together,
// so a busy case costs one fsync per batch instead of one per message. If the
// batch cannot commit as a whole (a stale preparation, a failing job), its jobs
// run one by one. It returns how many jobs it dealt with.
func (r *Runner) runBatch(ctx context.Context, batch []casestore.Job) int {
	var steps []*step
	var ahead map[uint64]*ahead
	var preparing time.Duration
	for i, job := range batch {
		if i%aheadChunk == 0 {
			ahead = r.e.readAhead(ctx, batch[i:min(i+aheadChunk, len(batch))])
		}
		started := time.Now()
		st, err := r.safePrepare(ctx, job, ahead[job.ID])
		preparing += r.elapsed(started)
		if err != nil {
			break
		}
		if st == nil {
			st = &step{in: &inbound{job: job}} // already done
		}
		steps = append(steps, st)
		if st.barrier || preparing >= r.batchTime {
			break
		}
	}
	var live []*step
	for _, st := range steps {
		if st.in.msg != nil {
			live = append(live, st)
		}
	}
	if len(steps) > 0 {
		err := r.e.commit(live)
		releaseAll(steps)
		if err == nil {
			return len(steps)
		}
		r.e.log.Debug("batch commit failed, running its jobs one by one", "jobs", len(steps), "err", err)
	} else {
		steps = []*step{{in: &inbound{job: batch[0]}}}
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return 0
		}
		r.run(ctx, st.in.job)
	}
	return len(steps)
}

func (r *Runner) safePrepare(ctx context.Context, job casestore.Job, a *ahead) (st *step, err error) {
	err = protect(func() (err error) { st, err = r.e.prepare(ctx, job, a); return err })
	return st, err
}

// run processes a job, retrying failures on the shared backoff. A job that
// keeps failing is parked: it stays in the store and is tried again at the
// next start, and its case's later mail is not held up behind it. A
// transient failure (a full disk) is retried until it passes, with the
// shard's later jobs, its case's included, waiting in order.
func (r *Runner) run(ctx context.Context, job casestore.Job) {
	for attempt := 1; ; attempt++ {
		err := protect(func() error { return r.e.Process(ctx, job) })
		if err == nil {
			return
		}
		wait, again := r.retry.next(attempt)
		if transient(err) {
			wait, again = r.retry.backoff(attempt), true
		}
		attrs := withStack([]any{"job", job.ID, "message", job.Message, "attempt", attempt, "err", err}, err)
		r.e.cfg.Metrics.JobFailed(!again)
		if !again {
			r.e.log.Error("job failed too often, parked until the next start", attrs...)
			return
		}
		r.e.log.Warn("job failed, will retry", append(attrs, "retry_in", wait)...)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
