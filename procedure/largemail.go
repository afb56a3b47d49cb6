package procedure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"parley/casestore"
	"parley/threading"
)

// Large outbound mail (a relay with attachments, the referral's case file)
// is stored as a blob file, and a file write and its fsync inside the
// shared write transaction would hold every other commit of the batch
// behind it (a 100-byte commit waited 60-160 ms behind a 20 MiB relay).
// So the transaction never writes one: meeting a large body without its
// blob, queueTo fails the attempt with errNeedsBlob, which carries the
// header it would have written; update composes the message from it,
// writes and fsyncs the blob outside any transaction, and runs the work
// again, when queueTo finds the blob by the envelope's key and records the
// row with the same Message-ID and Date. Only the small row is committed.

// largeBody is the entity size from which a message goes to a blob file
// (casestore.InlineMax, less room for the header).
const largeBody = casestore.InlineMax - 16<<10

// envelope is what a message's header is made of.
type envelope struct {
	caseID, lang       string
	auto               bool
	thread             []string // the reader's thread before this message
	msgID              string
	date               time.Time
	subject            string
	toName, to         string
	fromName, fromAddr string
}

// header renders the envelope. go-message writes fields in the reverse order
// of adding them, so they are added last-first to come out in the usual order.
func (env envelope) header() ([]byte, error) {
	var h mail.Header
	if env.auto {
		// Ask Exchange and Outlook not to send out-of-office replies to notices.
		h.Set("X-Auto-Response-Suppress", "All")
		h.Set("Auto-Submitted", "auto-generated")
	}
	h.Set("X-Parley-Case", env.caseID)
	h.Set("Content-Language", env.lang)
	if n := len(env.thread); n > 0 {
		refs := threading.References(env.thread)
		ids := make([]string, len(refs))
		for i, r := range refs {
			ids[i] = strings.Trim(r, "<>")
		}
		h.SetMsgIDList("References", ids)
		h.SetMsgIDList("In-Reply-To", []string{strings.Trim(env.thread[n-1], "<>")})
	}
	h.SetMessageID(strings.Trim(env.msgID, "<>"))
	h.SetDate(env.date)
	h.SetSubject(env.subject)
	h.SetAddressList("To", []*mail.Address{{Name: threading.SanitizeHeader(env.toName), Address: env.to}})
	h.SetAddressList("Reply-To", []*mail.Address{{Address: env.fromAddr}})
	h.SetAddressList("From", []*mail.Address{{Name: threading.SanitizeHeader(env.fromName), Address: env.fromAddr}})
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, h.Header.Header); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	// WriteHeader ends with the blank line; the entity brings its own
	// Content-* lines, so the blank line goes after them.
	return bytes.TrimSuffix(buf.Bytes(), []byte("\r\n")), nil
}

// key names a large message by all it is made of but its Message-ID and
// Date, which the blob fixes: the same body to the same reader at the same
// point of the thread.
func (env envelope) key(entitySum []byte) string {
	h := sha256.New()
	for _, s := range append([]string{env.caseID, env.lang, fmt.Sprint(env.auto), env.subject, env.toName, env.to, env.fromName, env.fromAddr}, env.thread...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(entitySum)
	return hex.EncodeToString(h.Sum(nil))
}

// errNeedsBlob is queueTo meeting a large body whose blob is not written.
type errNeedsBlob struct {
	key    string
	env    envelope
	entity []byte
}

func (e *errNeedsBlob) Error() string {
	return fmt.Sprintf("case %s: a %d-byte message to %s must be stored before the transaction", e.env.caseID, len(e.entity), e.env.to)
}

// stored is a large message written to the blob folder, waiting for the
// transaction that queues it.
type stored struct {
	msgID string
	date  time.Time
	sum   string
	size  int64
	made  time.Time
}

// blobsReady are the stored large messages by envelope key. An entry is
// used once; one its transaction never took (the case moved on) is removed
// with its file after blobWait.
type blobsReady struct {
	mu sync.Mutex
	m  map[string]stored
}

const blobWait = 10 * time.Minute

func (b *blobsReady) take(key string) (stored, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[key]
	delete(b.m, key)
	return s, ok
}

func (b *blobsReady) put(key string, s stored) (expired []stored) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]stored{}
	}
	for k, old := range b.m {
		if s.made.Sub(old.made) > blobWait {
			expired = append(expired, old)
			delete(b.m, k)
		}
	}
	b.m[key] = s
	return expired
}

// update runs fn in a write transaction (the store's group commit), storing
// the large messages it needs first, outside any transaction.
func (e *Engine) update(fn func(tx *casestore.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := e.store.Update(fn)
		var nb *errNeedsBlob
		if !errors.As(err, &nb) || attempt == 16 {
			return err
		}
		if err := e.storeLarge(nb); err != nil {
			return err
		}
	}
}

// storeLarge writes a large message to the blob folder (fsynced) and keeps
// it for the transaction that will queue it.
func (e *Engine) storeLarge(nb *errNeedsBlob) error {
	head, err := nb.env.header()
	if err != nil {
		return err
	}
	raw := append(head, nb.entity...)
	sum, size, err := e.store.Blobs.Put(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("store outbound message of case %s: %w", nb.env.caseID, err)
	}
	for _, old := range e.blobs.put(nb.key, stored{msgID: nb.env.msgID, date: nb.env.date, sum: sum, size: size, made: time.Now()}) {
		e.dropUnused(old.sum)
	}
	return nil
}

// dropUnused removes a stored message no row came to use.
func (e *Engine) dropUnused(sum string) {
	var used bool
	e.store.View(func(tx *casestore.Tx) error { used = tx.RawRefs(sum) > 0; return nil })
	if !used {
		if err := e.store.Blobs.Remove(sum); err != nil {
			e.log.Warn("remove unused outbound blob", "sha256", sum, "err", err)
		}
	}
}
