package imapd

import (
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Fetch answers FETCH from the stored bytes. Reading a body section without
// .PEEK sets \Seen for every mediator (the mailbox is shared), except in a
// folder opened with EXAMINE.
//
// A message another session expunged (personal folders) is left out and the
// answer is NO [EXPUNGEISSUED] after the data of the others (RFC 2180 section
// 4.1.2, RFC 5530), for a sequence-number FETCH; a UID FETCH leaves it out
// silently, as it does any UID that does not exist (RFC 3501 section 6.4.8),
// and its EXPUNGE follows before the tagged OK.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, opts *imap.FetchOptions) error {
	v := s.view
	ts, gone := v.targets(numSet)
	_, byUID := numSet.(imap.UIDSet)
	if len(ts) == 0 {
		return s.expungeIssued(gone, byUID, "")
	}
	items := make([]string, len(ts))
	for i, t := range ts {
		items[i] = t.item
	}
	x := s.srv.idx
	var (
		flags   map[string][]imap.Flag
		changed map[string]bool
		err     error
	)
	seen := !v.readOnly && marksSeen(opts)
	if seen || opts.Flags {
		flags, err = x.flags(items)
	}
	if err == nil && seen {
		var unseen []string
		for _, item := range items {
			if !hasFlag(flags[item], imap.FlagSeen) {
				unseen = append(unseen, item)
			}
		}
		var final map[string][]imap.Flag
		final, changed, err = x.storeFlags(unseen, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, v)
		for item, f := range final {
			flags[item] = f
		}
	}
	if err != nil {
		return s.internalErr("fetch flags", err)
	}
	// A keyword another session added since this client's last FLAGS is
	// left out here; the FETCH FLAGS queued for it follows the FLAGS that
	// announces it, at the command's end.
	stale := v.flagsStale()
	needContent := opts.Envelope || opts.BodyStructure != nil || opts.RFC822Size || opts.InternalDate ||
		len(opts.BodySection) > 0 || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0
	for _, t := range ts {
		var c *content
		if needContent {
			if c, err = x.content(t.item); err != nil {
				if x.expunged(v.mbox.key, t.item) {
					gone++
					continue
				}
				return s.internalErr("fetch", fmt.Errorf("uid %d of %s: %w", t.uid, v.mbox.key, err))
			}
		}
		rw := w.CreateMessage(t.client)
		rw.WriteUID(t.uid)
		if opts.Flags || changed[t.item] {
			fl := flags[t.item]
			if stale {
				var dropped bool
				if fl, dropped = v.knownFlags(fl); dropped {
					v.markChanged(t.uid)
				}
			}
			rw.WriteFlags(v.withRecent(t.uid, fl))
		}
		if c != nil {
			if err := writeContent(rw, c, opts); err != nil {
				return err
			}
		}
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return s.expungeIssued(gone, byUID, "the others were returned")
}

// expungeIssued is the answer to a command some of whose messages another
// session expunged: NO [EXPUNGEISSUED] when they were named by sequence
// number, nothing when by UID.
func (s *session) expungeIssued(gone int, byUID bool, rest string) error {
	if gone == 0 || byUID {
		return nil
	}
	text := fmt.Sprintf("%d of the requested messages were expunged by another session", gone)
	if rest != "" {
		text += "; " + rest
	}
	return noErr(responseCodeExpungeIssued, text)
}

// responseCodeExpungeIssued is RFC 5530's code for "another session
// expunged a message this command names"; go-imap does not define it.
const responseCodeExpungeIssued imap.ResponseCode = "EXPUNGEISSUED"

func marksSeen(opts *imap.FetchOptions) bool {
	for _, bs := range opts.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range opts.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

func writeContent(rw *imapserver.FetchResponseWriter, c *content, opts *imap.FetchOptions) error {
	if opts.InternalDate {
		rw.WriteInternalDate(c.date)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(int64(len(c.buf)))
	}
	if opts.Envelope {
		rw.WriteEnvelope(c.envelope())
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(c.bodyStructure())
	}
	for _, bs := range opts.BodySection {
		b := c.section(bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bs := range opts.BinarySection {
		b := c.binarySection(bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bss := range opts.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, c.binarySize(bss))
	}
	return nil
}

func writeLiteral(w interface {
	Write([]byte) (int, error)
	Close() error
}, b []byte) error {
	_, werr := w.Write(b)
	cerr := w.Close()
	if werr != nil {
		return werr
	}
	return cerr
}
