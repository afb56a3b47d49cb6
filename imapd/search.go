package imapd

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"parley/casestore"
)

// Search evaluates SEARCH criteria over the folder, reading a message's
// bytes only when a criterion needs them.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	v := s.view
	v.mbox.mu.Lock()
	v.staticCriteriaLocked(criteria)
	v.mbox.mu.Unlock()
	ts := v.all()
	items := make([]string, len(ts))
	for i, t := range ts {
		items[i] = t.item
	}
	flags, err := s.srv.idx.flags(items)
	if err != nil {
		return nil, s.internalErr("search", err)
	}
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet
	)
	for _, t := range ts {
		m := &matcher{idx: s.srv.idx, t: t, flags: v.withRecent(t.uid, flags[t.item])}
		ok := m.match(criteria)
		if m.err != nil {
			if s.srv.idx.expunged(v.mbox.key, t.item) {
				continue // another session expunged it meanwhile
			}
			return nil, s.internalErr("search", m.err)
		}
		if !ok {
			continue
		}
		uidSet.AddNum(t.uid)
		num := uint32(t.uid)
		if kind == imapserver.NumKindSeq {
			seqSet.AddNum(t.client)
			num = t.client
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqSet
	} else {
		data.All = uidSet
	}
	if options != nil && options.ReturnSave {
		v.searchRes = uidSet
	}
	return &data, nil
}

// staticCriteriaLocked resolves "*" and "$" in the criteria; the mailbox's
// mu is held.
func (v *view) staticCriteriaLocked(c *imap.SearchCriteria) {
	seqs := make([]imap.SeqSet, 0, len(c.SeqNum))
	for _, set := range c.SeqNum {
		switch ns := v.staticNumSetLocked(set).(type) {
		case imap.SeqSet:
			seqs = append(seqs, ns)
		case imap.UIDSet:
			c.UID = append(c.UID, ns)
		}
	}
	c.SeqNum = seqs
	for i, set := range c.UID {
		if us, ok := v.staticNumSetLocked(set).(imap.UIDSet); ok {
			c.UID[i] = us
		}
	}
	for i := range c.Not {
		v.staticCriteriaLocked(&c.Not[i])
	}
	for i := range c.Or {
		v.staticCriteriaLocked(&c.Or[i][0])
		v.staticCriteriaLocked(&c.Or[i][1])
	}
}

// matcher evaluates criteria against one message, loading it at most once.
type matcher struct {
	idx   *index
	t     target
	flags []imap.Flag
	c     *content
	err   error
}

func (m *matcher) content() *content {
	if m.c == nil && m.err == nil {
		m.c, m.err = m.idx.content(m.t.item)
		if m.err != nil {
			m.err = fmt.Errorf("uid %d: %w", m.t.uid, m.err)
		}
	}
	return m.c
}

func (m *matcher) match(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !set.Contains(m.t.client) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(m.t.uid) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(m.flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.flags, f) {
			return false
		}
	}
	needContent := !c.Since.IsZero() || !c.Before.IsZero() || c.Larger != 0 || c.Smaller != 0 || len(c.Header) > 0 ||
		!c.SentSince.IsZero() || !c.SentBefore.IsZero() || len(c.Text) > 0 || len(c.Body) > 0
	if needContent {
		ct := m.content()
		if ct == nil {
			return false
		}
		if !matchDate(ct.date, c.Since, c.Before) {
			return false
		}
		if c.Larger != 0 && int64(len(ct.buf)) <= c.Larger {
			return false
		}
		if c.Smaller != 0 && int64(len(ct.buf)) >= c.Smaller {
			return false
		}
		ct.parse()
		h := mail.Header{Header: gomessage.Header{Header: ct.header}}
		for _, hf := range c.Header {
			if !matchFields(h.FieldsByKey(hf.Key), hf.Value) && !matchAddresses(ct, hf.Key, hf.Value) {
				return false
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || t.IsZero() || !matchDate(t, c.SentSince, c.SentBefore) {
				return false
			}
		}
		for _, text := range c.Text {
			if !matchBody(ct, text, true) {
				return false
			}
		}
		for _, body := range c.Body {
			if !matchBody(ct, body, false) {
				return false
			}
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

// matchDate compares dates only, ignoring time and zone (RFC 3501 6.4.4).
func matchDate(t, since, before time.Time) bool {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && t.Before(since) {
		return false
	}
	if !before.IsZero() && !t.Before(before) {
		return false
	}
	return true
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

// matchBody looks for pattern in the decoded text parts (and the header for
// TEXT). A message whose MIME structure cannot be walked is searched as raw
// bytes, so malformed mail is still found.
func matchBody(c *content, pattern string, withHeader bool) bool {
	if pattern == "" {
		return true
	}
	e, err := gomessage.Read(bytes.NewReader(c.structure))
	if e == nil || (err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err)) {
		hay := c.buf
		if !withHeader {
			hay = c.buf[c.hdr:]
		}
		return bytes.Contains(bytes.ToLower(hay), bytes.ToLower([]byte(pattern)))
	}
	if withHeader && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	found, ok := matchEntity(e, strings.ToLower(pattern))
	if !ok {
		// The MIME walk broke off (a boundary that never occurs, a part cut
		// short): search the body bytes as they are.
		return bytes.Contains(bytes.ToLower(c.buf[c.hdr:]), bytes.ToLower([]byte(pattern)))
	}
	return found
}

// matchEntity reports whether a text part holds pattern, and whether the
// MIME structure could be walked to its end.
func matchEntity(e *gomessage.Entity, pattern string) (found, ok bool) {
	if mr := e.MultipartReader(); mr != nil {
		parts := 0
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return false, parts > 0
			}
			if err != nil {
				return false, false
			}
			parts++
			if found, ok := matchEntity(part, pattern); found || !ok {
				return found, ok
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false, true
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, 32<<20))
	if err != nil && len(b) == 0 {
		return false, false
	}
	return bytes.Contains(bytes.ToLower(b), []byte(pattern)), true
}

// status answers STATUS from the index.
func (x *index) status(key string, o *imap.StatusOptions) (*imap.StatusData, error) {
	var (
		f       casestore.MailFolder
		entries []casestore.MailEntry
		unseen  uint32
	)
	err := x.store.View(func(tx *casestore.Tx) (err error) {
		if f, err = tx.MailFolder(key); err != nil {
			return err
		}
		if entries, err = tx.MailEntries(key); err != nil {
			return err
		}
		if o.NumUnseen {
			for _, e := range entries {
				if !hasFlag(toFlags(tx.MailFlags(e.Item)), imap.FlagSeen) {
					unseen++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", key, err)
	}
	st := &imap.StatusData{}
	zero := uint32(0)
	if o.NumMessages {
		n := uint32(len(entries))
		st.NumMessages = &n
	}
	if o.UIDNext {
		st.UIDNext = imap.UID(f.UIDNext)
	}
	if o.UIDValidity {
		st.UIDValidity = f.UIDValidity
	}
	if o.NumUnseen {
		st.NumUnseen = &unseen
	}
	if o.NumRecent {
		// What the next session to select the folder would see as recent.
		x.mu.Lock()
		from := x.recentFromLocked(f)
		x.mu.Unlock()
		var n uint32
		for _, e := range entries {
			if imap.UID(e.UID) >= from {
				n++
			}
		}
		st.NumRecent = &n
	}
	if o.NumDeleted {
		st.NumDeleted = &zero
	}
	if o.Size {
		var size int64
		for _, e := range entries {
			c, err := x.content(e.Item)
			if err != nil {
				if x.expunged(key, e.Item) {
					continue
				}
				return nil, err
			}
			size += int64(len(c.buf))
		}
		st.Size = &size
	}
	return st, nil
}
