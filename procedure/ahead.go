package procedure

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"

	"parley/casestore"
	"parley/evidence"
	"parley/mailauth"
	"parley/threading"
)

// ahead is the part of handling a message that depends neither on its case
// nor on the mail before it: loading and parsing it, its own text without
// the quoted history, and its sender's DMARC verdict (DNS lookups). The
// runner does this for all messages of a batch at once, in parallel, then
// handles them one by one in order; so a busy case's mail is parsed on every
// core, and one slow DNS answer does not hold up the mail behind it.
type ahead struct {
	msg  *casestore.Message
	raw  []byte
	pm   *evidence.Message
	text string // pm.Text without quoted history
	auth *mailauth.Result
}

// readAhead reads the messages of jobs ahead, GOMAXPROCS at a time. A job
// that cannot be read ahead (gone, a read error, a large message, which
// waits for its turn at the one-large-message gate) is left out: prepare
// then reads it itself and reports what goes wrong.
func (e *Engine) readAhead(ctx context.Context, jobs []casestore.Job) map[uint64]*ahead {
	if len(jobs) < 2 {
		return nil
	}
	got := make([]*ahead, len(jobs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic here is prepare's to report, when it meets the message.
			_ = protect(func() error { got[i] = e.loadAhead(ctx, job); return nil })
		}()
	}
	wg.Wait()
	out := make(map[uint64]*ahead, len(jobs))
	for i, a := range got {
		if a != nil {
			out[jobs[i].ID] = a
		}
	}
	return out
}

func (e *Engine) loadAhead(ctx context.Context, job casestore.Job) *ahead {
	msg, err := e.jobMessage(job)
	if err != nil || msg == nil || msg.Size >= int64(e.cfg.Evidence.LargeMessage) {
		return nil
	}
	a, err := e.readMessage(ctx, msg)
	if err != nil {
		return nil
	}
	return a
}

// jobMessage is the message of a job still to do; nil when it is done.
func (e *Engine) jobMessage(job casestore.Job) (*casestore.Message, error) {
	var msg *casestore.Message
	if err := e.store.View(func(tx *casestore.Tx) (err error) {
		if tx.JobExists(job.ID) {
			msg, err = tx.Message(job.Message)
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("load job %d: %w", job.ID, err)
	}
	return msg, nil
}

// readMessage loads and reads a message: parsed, its own text, and its
// sender's DMARC verdict.
func (e *Engine) readMessage(ctx context.Context, msg *casestore.Message) (*ahead, error) {
	raw, err := e.store.Raw(msg.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load raw of message %d: %w", msg.ID, err)
	}
	a := &ahead{msg: msg, raw: raw, pm: e.parser.Parse(raw)}
	a.text = threading.StripQuoted(a.pm.Text)
	a.auth = e.checkSender(ctx, msg, a.pm, raw)
	return a, nil
}

// checkSender is the DMARC verdict on mail that speaks for a party; nil for
// complaints (anyone may send one) or when sender authentication is off.
func (e *Engine) checkSender(ctx context.Context, msg *casestore.Message, pm *evidence.Message, raw []byte) *mailauth.Result {
	if e.auth == nil || !msg.Target.SpeaksForParty() || pm.FromAddr == "" {
		return nil
	}
	host, _, _ := net.SplitHostPort(msg.RemoteAddr)
	res := e.auth.Check(ctx, net.ParseIP(host), msg.Helo, msg.MailFrom, pm.FromAddr, raw)
	return &res
}
