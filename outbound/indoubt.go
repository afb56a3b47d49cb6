package outbound

import (
	"context"
	"io"
)

// inDoubt bounds how many deliveries are at once between the end of their
// content and the moment their next hop's reply is in the delivery log.
// Only a delivery in that window can be sent twice after a crash: its next
// hop may have committed the message before we read the 250 (RFC 1047; RFC
// 5321 section 4.5.4.1 asks senders to keep this window short). With a
// limit of 1 a kill -9 costs at most one duplicate, whatever the number of
// workers; the content itself still streams concurrently, only the final
// dot and its reply wait their turn.
type inDoubt struct{ slots chan struct{} }

// newInDoubt makes a gate for n deliveries; n <= 0 means no limit.
func newInDoubt(n int) *inDoubt {
	if n <= 0 {
		return nil
	}
	return &inDoubt{slots: make(chan struct{}, n)}
}

// body wraps a message's content: when a transport reads its end (it is
// about to send the final dot) the gate takes a slot, which release gives
// back once the outcome is logged. A nil gate passes r through.
func (g *inDoubt) body(ctx context.Context, r io.Reader) *gatedBody {
	return &gatedBody{r: r, g: g, ctx: ctx}
}

type gatedBody struct {
	r    io.Reader
	g    *inDoubt
	ctx  context.Context
	held bool
}

func (b *gatedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.g != nil && !b.held {
		select {
		case b.g.slots <- struct{}{}:
			b.held = true
		case <-b.ctx.Done():
			return n, b.ctx.Err()
		}
	}
	return n, err
}

// release gives the slot back, if the body took one; a nil body (no
// delivery was tried) has none.
func (b *gatedBody) release() {
	if b != nil && b.held {
		b.held = false
		<-b.g.slots
	}
}
