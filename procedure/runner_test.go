package procedure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/casestore"
	"parley/route"
)

// queueMessage stores a message and its job without running it.
func (ev *env) queueMessage(mailFrom string, target route.Target, raw string) casestore.Job {
	ev.t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	sum := sha256.Sum256([]byte(raw))
	var job casestore.Job
	err := ev.store.Update(func(tx *casestore.Tx) error {
		id, _ := tx.NextMessageID()
		m := &casestore.Message{ID: id, Received: ev.now, MailFrom: mailFrom, Target: target, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(raw))}
		if err := tx.PutRawInline(m.SHA256, []byte(raw)); err != nil {
			return err
		}
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if _, err := tx.RefRaw(m.SHA256, 1); err != nil {
			return err
		}
		job = casestore.Job{Kind: casestore.JobIngest, Message: id, Shard: target.Shard(mailFrom)}
		return tx.AddJob(&job)
	})
	if err != nil {
		ev.t.Fatal(err)
	}
	return job
}

// queueReplies queues n trader replies to c, marked marker-000 on.
func (ev *env) queueReplies(c *casestore.Case, n int) []casestore.Job {
	var jobs []casestore.Job
	for i := 0; i < n; i++ {
		jobs = append(jobs, ev.queueMessage("support@acme.example", route.Party(c.ID, route.Trader),
			fmt.Sprintf("From: support@acme.example\nSubject: Re\n\nmarker-%03d\n", i)))
	}
	return jobs
}

func (ev *env) pendingJobs() int {
	var n int
	ev.store.View(func(tx *casestore.Tx) error { jobs, _ := tx.Jobs(); n = len(jobs); return nil })
	return n
}

func runAll(t *testing.T, ev *env, r *Runner, jobs []casestore.Job) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.Submit(jobs...)
	deadline := time.Now().Add(20 * time.Second)
	for ev.pendingJobs() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending", ev.pendingJobs())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A case's messages are committed in batches and still relayed in the order
// they were accepted, each exactly once.
func TestRunnerBatchesKeepCaseOrder(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	jobs := ev.queueReplies(c, 150)
	// Also a quarantined one and a new complaint, on other paths.
	jobs = append(jobs, ev.queueMessage("x@evil.example", route.Party(c.ID, route.Trader), "From: x@evil.example\nSubject: x\n\nspam\n"))
	r := NewRunner(ev.e, 3)
	runAll(t, ev, r, jobs)
	out := ev.take()
	var relays []string
	for _, s := range out {
		if s.o.Kind == "relay" {
			relays = append(relays, s.env.Text)
		}
	}
	if len(relays) != 150 {
		t.Fatalf("%d relays, want 150", len(relays))
	}
	for i, text := range relays {
		if !strings.Contains(text, fmt.Sprintf("marker-%03d", i)) {
			t.Fatalf("relay %d out of order: %q", i, text)
		}
	}
	var evs []casestore.Event
	ev.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events(c.ID); return err })
	prev := ""
	for _, e := range evs {
		if e.Prev != prev || casestore.EventHash(e) != e.Hash {
			t.Fatalf("event chain broken at %d", e.Seq)
		}
		prev = e.Hash
	}
}

// A completed intake is a barrier: the consumer's next message in the same
// batch must be relayed to the trader named by the completion.
func TestRunnerBarrierAfterCompletion(t *testing.T) {
	ev := newEnv(t)
	ev.deliver("jan@consumer.example", route.Complaints(), complaint)
	c := ev.onlyCase()
	ev.take()
	target := route.Party(c.ID, route.Consumer)
	jobs := []casestore.Job{
		ev.queueMessage("jan@consumer.example", target, "From: jan@consumer.example\nSubject: Re\n\nTrader: support@acme.example\n"),
		ev.queueMessage("jan@consumer.example", target, "From: jan@consumer.example\nSubject: Re\n\nAlso, the lid is cracked.\n"),
	}
	runAll(t, ev, NewRunner(ev.e, 1), jobs)
	out := ev.take()
	if len(out) != 3 || out[2].o.Kind != "relay" || out[2].o.To != "support@acme.example" || !strings.Contains(out[2].env.Text, "lid is cracked") {
		for _, s := range out {
			t.Logf("%s to %s", s.o.Kind, s.o.To)
		}
		t.Fatalf("want confirm, trader notice, then the relay of the second message")
	}
}

// A job that cannot be prepared (its raw message is gone) does not hold up
// the rest of its case forever.
func TestRunnerFailingJobDoesNotBlockCase(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	target := route.Party(c.ID, route.Trader)
	bad := ev.queueMessage("support@acme.example", target, "From: support@acme.example\n\nfirst\n")
	ev.store.Update(func(tx *casestore.Tx) error {
		m, _ := tx.Message(bad.Message)
		m.SHA256 = strings.Repeat("0", 64)
		return tx.PutMessage(m)
	})
	good := ev.queueMessage("support@acme.example", target, "From: support@acme.example\n\nsecond\n")
	r := NewRunner(ev.e, 1)
	r.retry = retryPolicy{attempts: 2, first: time.Millisecond, most: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	r.Start(ctx)
	r.Submit(bad, good)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var done bool
		ev.store.View(func(tx *casestore.Tx) error { done = !tx.JobExists(good.ID); return nil })
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the good job never ran")
		}
		time.Sleep(2 * time.Millisecond)
	}
	var stillThere bool
	ev.store.View(func(tx *casestore.Tx) error { stillThere = tx.JobExists(bad.ID); return nil })
	if !stillThere {
		t.Error("the failing job must stay in the store for the next start")
	}
}

// A job failing for a transient cause (a full disk) is retried for as long
// as the cause lasts, past the attempts that would park it, and the case's
// later mail waits behind it: the shop gets both messages, in order.
func TestRunnerTransientFailureKeepsOrder(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	target := route.Party(c.ID, route.Trader)
	first := ev.queueMessage("support@acme.example", target, "From: support@acme.example\n\nfirst\n")
	second := ev.queueMessage("support@acme.example", target, "From: support@acme.example\n\nsecond\n")
	var mu sync.Mutex
	failures := 0
	ev.e.beforeJob = func(j casestore.Job) error {
		mu.Lock()
		defer mu.Unlock()
		if j.ID == first.ID && failures < 6 {
			failures++
			return fmt.Errorf("store evidence: write /data/blobs/x: %w", syscall.ENOSPC)
		}
		return nil
	}
	r := NewRunner(ev.e, 1)
	r.retry = retryPolicy{attempts: 2, first: time.Millisecond, most: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	r.Start(ctx)
	r.Submit(first, second)
	deadline := time.Now().Add(10 * time.Second)
	for ev.pendingJobs() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs left; the transient failure was given up on", ev.pendingJobs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The relays are handed over just after their commit: collect them.
	var texts []string
	for time.Now().Before(deadline) && len(texts) < 2 {
		for _, s := range ev.take() {
			texts = append(texts, strings.TrimSpace(s.env.Text))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(texts) != 2 || !strings.Contains(texts[0], "first") || !strings.Contains(texts[1], "second") {
		t.Fatalf("relays out of order or missing: %q", texts)
	}
	if failures != 6 {
		t.Errorf("%d failures", failures)
	}
}

// A batch's messages are read ahead in parallel, except those prepare must
// read itself: a message whose raw content is gone (its error is prepare's
// to report) and a large one (it waits for the one-large-message gate).
func TestReadAheadLeavesWhatPrepareMustDo(t *testing.T) {
	ev := newEnv(t)
	c := openCase(t, ev)
	target := route.Party(c.ID, route.Trader)
	good := ev.queueMessage("support@acme.example", target,
		"From: support@acme.example\nSubject: Re\n\nWe sent a new one.\n\nOn Monday Jan wrote:\n> It broke.\n")
	gone := ev.queueMessage("support@acme.example", target, "From: support@acme.example\n\ngone\n")
	ev.store.Update(func(tx *casestore.Tx) error {
		m, _ := tx.Message(gone.Message)
		m.SHA256 = strings.Repeat("0", 64)
		return tx.PutMessage(m)
	})
	large := ev.queueMessage("support@acme.example", target,
		"From: support@acme.example\n\n"+strings.Repeat("x", int(ev.e.cfg.Evidence.LargeMessage))+"\n")
	got := ev.e.readAhead(context.Background(), []casestore.Job{good, gone, large})
	if len(got) != 1 || got[good.ID] == nil {
		t.Fatalf("read ahead %d of 3 (%v), want only the first", len(got), got)
	}
	if a := got[good.ID]; a.msg.ID != good.Message || strings.Contains(a.text, "It broke") || !strings.Contains(a.text, "new one") {
		t.Errorf("read ahead message %d with text %q", a.msg.ID, a.text)
	}
	// And prepare, given what was read ahead, relays it as it would have.
	st, err := ev.e.prepare(context.Background(), good, got[good.ID])
	if err != nil || st == nil {
		t.Fatalf("prepare: %v", err)
	}
	if err := ev.e.commit([]*step{st}); err != nil {
		t.Fatal(err)
	}
	out := ev.take()
	if len(out) != 1 || !strings.Contains(out[0].env.Text, "We sent a new one") {
		t.Fatalf("want the relay of the first message, got %d mails", len(out))
	}
}

// A worker serves the shards that hash to it in turn, a batch each, every
// shard's jobs in order: a case behind an intake flood on the same worker
// waits for one batch of it, not all of it. Jobs pushed while a batch runs go
// behind it; a batch done in part leaves the rest first in its shard.
func TestShardQueueTakesTurns(t *testing.T) {
	var q shardQueue
	id := uint64(0)
	push := func(shard string, n int) {
		for i := 0; i < n; i++ {
			id++
			q.push(casestore.Job{ID: id, Shard: shard})
		}
	}
	push("intake:load@consumer.example", 150) // ids 1-150
	push("case:K7Q-4M2P", 2)                  // 151-152
	var served []string
	var order = map[string][]uint64{}
	for step := 0; q.n > 0; step++ {
		batch := q.next(64)
		if len(batch) == 0 {
			t.Fatalf("step %d: nothing served with %d queued", step, q.n)
		}
		shard := batch[0].Shard
		for _, j := range batch {
			if j.Shard != shard {
				t.Fatalf("step %d: a batch mixes %s and %s", step, shard, j.Shard)
			}
			order[shard] = append(order[shard], j.ID)
		}
		served = append(served, fmt.Sprintf("%s×%d", shard[:4], len(batch)))
		if step == 0 {
			push("intake:load@consumer.example", 5) // 153-157, queued while the first batch runs
		}
		n := len(batch)
		if step == 2 {
			n = 10 // a batch that stopped early (a barrier): the rest stays first
			order[shard] = order[shard][:len(order[shard])-len(batch)+10]
		}
		q.done(n)
	}
	if got := strings.Join(served, " "); got != "inta×64 case×2 inta×64 inta×64 inta×17" {
		t.Errorf("served %s", got)
	}
	for shard, ids := range order {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("%s served out of order: %v", shard, ids)
			}
		}
	}
	if len(order["intake:load@consumer.example"]) != 155 || len(q.turn) != 0 || len(q.queued) != 0 {
		t.Errorf("intake served %d of 155; left turn %v queued %d", len(order["intake:load@consumer.example"]), q.turn, len(q.queued))
	}
}

// A batch stops taking jobs once preparing it took batchTime: slow jobs
// commit a few at a time, so what was done before a kill -9 is kept. With
// preparing as slow as it may be, every job commits on its own; with it
// quick, the jobs of a shard share one commit.
func TestRunnerBatchTimeBound(t *testing.T) {
	for _, slow := range []bool{true, false} {
		ev := newEnv(t)
		jobs := ev.queueReplies(openCase(t, ev), 10)
		r := NewRunner(ev.e, 1)
		r.elapsed = func(time.Time) time.Duration { // preparing one job takes
			if slow {
				return r.batchTime
			}
			return r.batchTime / 100
		}
		before := ev.pendingJobs()
		done := r.runBatch(context.Background(), jobs)
		want := map[bool]int{true: 1, false: 10}[slow]
		if done != want || ev.pendingJobs() != before-want {
			t.Errorf("slow %v: a batch took %d jobs and committed %d, want %d", slow, done, before-ev.pendingJobs(), want)
		}
	}
}
