package imapd

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestCommitsReachIdlingClients checks that mail reaches an idling client
// because the store's commit announced it, not because a poll found it: the
// poll interval is an hour, and a second case's commit reaches its own
// folder too.
func TestCommitsReachIdlingClients(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.PollInterval = time.Hour }))
	seed(h)
	var count atomic.Uint32
	c := h.client(&imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			count.Store(*d.NumMessages)
		}
	}})
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	count.Store(sel.NumMessages)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 3; i++ {
		h.addMessage(caseA, "consumer", msg("jan@consumer.example", "More", "And another thing."))
		want := sel.NumMessages + i
		waitFor(t, "EXISTS after a commit", func() bool { return count.Load() == want })
	}
	idle.Close()
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	// The index refreshed from the commits alone: a case changed without a
	// poll shows in STATUS from another session at once.
	before := statusCount(t, h, folderC)
	h.addMessage(caseC, "trader", msg("shop@example.org", "Answer", "We will look."))
	waitFor(t, "the other case's folder to grow", func() bool { return statusCount(t, h, folderC) == before+1 })
}

func statusCount(t *testing.T, h *harness, folder string) uint32 {
	t.Helper()
	c := h.client(nil)
	defer c.Close()
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS %s: %v", folder, err)
	}
	return *st.NumMessages
}
