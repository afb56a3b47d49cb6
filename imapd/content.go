package imapd

import (
	"bufio"
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"parley/casestore"
)

// content is the immutable bytes served for one item, and what is derived
// from them. It is shared by sessions through the cache.
type content struct {
	buf  []byte    // the message as served (Reply-To rewritten)
	date time.Time // INTERNALDATE
	hdr  int       // offset of the body in buf

	once      sync.Once
	structure []byte // buf with malformed header lines dropped, for MIME parsing
	header    textproto.Header
	env       *imap.Envelope

	bsOnce sync.Once
	bs     imap.BodyStructure
	flat   bool // a multipart without parts, served as one text part
}

func newContent(buf []byte, date time.Time) *content {
	return &content{buf: buf, date: date, hdr: headerEnd(buf)}
}

// parse prepares the MIME view. A header go-message cannot read (a line
// without a colon, a bad field name) is read without its malformed lines, so
// the envelope and the structure still come out right for everything else;
// the bytes served stay the original ones.
func (c *content) parse() {
	c.once.Do(func() {
		c.structure = c.buf
		if c.hdr == len(c.buf) {
			c.structure = c.headerBlock()
		}
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(c.headerBlock())))
		if err != nil {
			var clean bytes.Buffer
			for _, f := range headerFields(c.buf[:c.hdr]) {
				if validField(f) {
					clean.Write(crlf(f))
				}
			}
			clean.WriteString("\r\n")
			h, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(clean.Bytes())))
			c.structure = append(clean.Bytes(), c.buf[c.hdr:]...)
		}
		c.header = h
		c.env = imapserver.ExtractEnvelope(h)
	})
}

// headerBlock is the header including its terminating blank line (added when
// the message has none).
func (c *content) headerBlock() []byte {
	h := c.buf[:c.hdr]
	if c.hdr == len(c.buf) && !bytes.HasSuffix(h, []byte("\r\n\r\n")) && !bytes.HasSuffix(h, []byte("\n\n")) {
		h = append(bytes.Clone(crlf(h)), '\r', '\n')
	}
	return h
}

func (c *content) envelope() *imap.Envelope {
	c.parse()
	return c.env
}

func (c *content) bodyStructure() imap.BodyStructure {
	c.parse()
	c.bsOnce.Do(func() {
		bs := imapserver.ExtractBodyStructure(bytes.NewReader(c.structure))
		if mp, ok := bs.(*imap.BodyStructureMultiPart); ok && len(mp.Children) == 0 {
			// A multipart whose boundary never occurs: its body is read as
			// one plain text part, as the evidence parser reads it.
			c.flat = true
			body := c.buf[c.hdr:]
			bs = plainPart(uint32(len(body)), int64(bytes.Count(body, []byte("\n"))))
		}
		c.bs = fixStructure(bs)
	})
	return c.bs
}

// plainPart is the structure of an opaque text body.
func plainPart(size uint32, lines int64) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"}, Encoding: "7bit",
		Size: size, Text: &imap.BodyStructureText{NumLines: lines}, Extended: &imap.BodyStructureSinglePartExt{},
	}
}

// fixStructure repairs what go-imap would refuse to write (it panics on a
// multipart without parts and on missing extension data).
func fixStructure(bs imap.BodyStructure) imap.BodyStructure {
	switch b := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(b.Children) == 0 {
			return plainPart(0, 0)
		}
		for i, ch := range b.Children {
			b.Children[i] = fixStructure(ch)
		}
		if b.Extended == nil {
			b.Extended = &imap.BodyStructureMultiPartExt{}
		}
		return b
	case *imap.BodyStructureSinglePart:
		if b.MessageRFC822 != nil {
			b.MessageRFC822.BodyStructure = fixStructure(b.MessageRFC822.BodyStructure)
		}
		if b.Extended == nil {
			b.Extended = &imap.BodyStructureSinglePartExt{}
		}
		return b
	}
	return plainPart(0, 0)
}

// section returns a BODY[...] section. Top-level sections are cut from the
// served bytes directly, so even a message whose header no parser accepts is
// served whole; parts go through go-imap's MIME walker.
func (c *content) section(bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) > 0 {
		c.bodyStructure()
		if c.flat && len(bs.Part) == 1 && bs.Part[0] == 1 {
			// The one part of a flattened multipart is the body.
			switch bs.Specifier {
			case imap.PartSpecifierNone, imap.PartSpecifierText:
				return partial(c.buf[c.hdr:], bs.Partial)
			case imap.PartSpecifierMIME:
				return partial([]byte("Content-Type: text/plain; charset=us-ascii\r\n\r\n"), bs.Partial)
			}
		}
		return imapserver.ExtractBodySection(bytes.NewReader(c.structure), bs)
	}
	var b []byte
	switch bs.Specifier {
	case imap.PartSpecifierText:
		b = c.buf[c.hdr:]
	case imap.PartSpecifierHeader, imap.PartSpecifierMIME:
		b = c.headerBlock()
		if len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0 {
			b = filterHeader(b, bs.HeaderFields, bs.HeaderFieldsNot)
		}
	default:
		b = c.buf
	}
	return partial(b, bs.Partial)
}

func (c *content) binarySection(bs *imap.FetchItemBinarySection) []byte {
	c.parse()
	return imapserver.ExtractBinarySection(bytes.NewReader(c.structure), bs)
}

func (c *content) binarySize(bs *imap.FetchItemBinarySectionSize) uint32 {
	c.parse()
	return imapserver.ExtractBinarySectionSize(bytes.NewReader(c.structure), bs)
}

// filterHeader keeps (or drops) the named fields of a header block, as
// written, and ends it with the blank line (RFC 3501 section 6.4.5).
func filterHeader(hdr []byte, keep, drop []string) []byte {
	in := func(name string, names []string) bool {
		for _, n := range names {
			if equalFoldASCII(n, name) {
				return true
			}
		}
		return false
	}
	var out []byte
	for _, f := range headerFields(hdr) {
		name := fieldName(f)
		if name == "" {
			continue
		}
		if len(keep) > 0 && !in(name, keep) || in(name, drop) {
			continue
		}
		out = append(out, crlf(f)...)
	}
	return append(out, '\r', '\n')
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	end := int64(len(b))
	if p.Size >= 0 && p.Offset+p.Size < end {
		end = p.Offset + p.Size
	}
	return b[p.Offset:end]
}

// loadContent reads an item's bytes from the store and rewrites its header
// for the mediators' mailbox: Reply-To the case's mediator address, the
// case's thread, and whom a message went to (thread.go). The bytes depend
// only on the stored rows and mc's fixed fields, so they never change for a
// UID.
func loadContent(store *casestore.Store, item string, mc casestore.MailCase) (*content, error) {
	replyTo := mc.ReplyTo
	var extra []string
	caseID, kind, id, err := parseItem(item)
	if err != nil {
		return nil, err
	}
	var raw []byte
	var date time.Time
	err = store.View(func(tx *casestore.Tx) error {
		switch kind {
		case kindMessage:
			m, err := tx.Message(id)
			if err != nil {
				return err
			}
			date = m.Received
			if h := relayedHeader(m); h != "" {
				extra = append(extra, "X-Parley-Relayed: "+h)
			}
			raw, err = rawBytes(store, tx, m.SHA256)
			return err
		case kindOutbound:
			o, err := tx.Outbound(id)
			if err != nil {
				return err
			}
			date = o.Created
			extra = append(extra, "X-Parley-Sent-To: "+sentToHeader(tx, o))
			raw, err = rawBytes(store, tx, o.SHA256)
			return err
		case kindNote:
			ev, err := tx.Event(caseID, id)
			if err != nil {
				return err
			}
			date = ev.Time
			raw = noteMessage(caseID, ev, replyTo)
			return nil
		}
		return fmt.Errorf("unknown item kind %q", kind)
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", item, err)
	}
	if mc.Root != "" {
		raw = inThread(raw, mc.Root)
	}
	return newContent(withReplyTo(withFields(raw, extra), replyTo), date), nil
}

// rawBytes reads raw content inline from the bbolt file or from the blob folder.
func rawBytes(store *casestore.Store, tx *casestore.Tx, sum string) ([]byte, error) {
	if sum == "" {
		return nil, fmt.Errorf("content was purged: %w", casestore.ErrNotFound)
	}
	if b := tx.RawInline(sum); b != nil {
		return b, nil
	}
	f, err := store.Blobs.Open(sum)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("raw %s: %w", sum, casestore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("raw %s: %w", sum, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// contentCache keeps recently served items, bounded by total bytes.
type contentCache struct {
	max int

	mu    sync.Mutex
	size  int
	order *list.List // front = most recent; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	item string
	c    *content
}

func newContentCache(maxBytes int) *contentCache {
	return &contentCache{max: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

func (cc *contentCache) get(item string) *content {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.items[item]; ok {
		cc.order.MoveToFront(e)
		return e.Value.(*cacheEntry).c
	}
	return nil
}

func (cc *contentCache) put(item string, c *content) {
	n := len(c.buf)
	if n > cc.max/4 {
		return // one huge message must not flush the cache
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, ok := cc.items[item]; ok {
		return
	}
	cc.items[item] = cc.order.PushFront(&cacheEntry{item: item, c: c})
	cc.size += n
	for cc.size > cc.max {
		e := cc.order.Back()
		ce := e.Value.(*cacheEntry)
		cc.order.Remove(e)
		delete(cc.items, ce.item)
		cc.size -= len(ce.c.buf)
	}
}

// forget drops the items of a case (after a purge).
func (cc *contentCache) forget(prefix string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for item, e := range cc.items {
		if len(item) >= len(prefix) && item[:len(prefix)] == prefix {
			cc.order.Remove(e)
			delete(cc.items, item)
			cc.size -= len(e.Value.(*cacheEntry).c.buf)
		}
	}
}
