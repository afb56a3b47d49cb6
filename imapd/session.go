package imapd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// session is one IMAP connection. go-imap calls its methods one at a time,
// except Idle, which runs while the connection waits for DONE.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	log    *slog.Logger
	remote net.Addr
	user   string

	// view is the selected folder. The command goroutine changes it; Idle
	// runs in a goroutine of its own and reads it under mu.
	mu   sync.Mutex
	view *view
}

var (
	_ imapserver.Session          = (*session)(nil)
	_ imapserver.SessionNamespace = (*session)(nil)
	_ imapserver.SessionMove      = (*session)(nil)
)

func noErr(code imap.ResponseCode, text string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

// internalErr logs an internal failure and answers NO [SERVERBUG] without details.
func (s *session) internalErr(what string, err error) error {
	s.log.Error(what, "err", err)
	return noErr(imap.ResponseCodeServerBug, "Internal error, please try again later")
}

func (s *session) Close() error {
	if s.view != nil {
		s.Unselect()
	}
	s.srv.forget(s)
	if s.user != "" {
		s.log.Info("logout")
	}
	return nil
}

// Login checks a mediator's credentials. go-imap only calls it over TLS, or
// on the loopback server, which is the only one allowing plain text.
func (s *session) Login(username, password string) error {
	email, err := s.srv.auth.Login(s.srv.ctx, s.remote, username, password)
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		return noErr(imap.ResponseCodeUnavailable, rl.Error())
	case errors.Is(err, ErrBadCredentials):
		return imapserver.ErrAuthFailed
	case err != nil:
		return s.internalErr("login", err)
	}
	if err := s.srv.idx.ensurePersonal(email); err != nil {
		return s.internalErr("login", err)
	}
	s.user = email
	s.log = s.log.With("user", email)
	s.log.Info("login")
	return nil
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// refresh brings the index up to date before a command that reads folders.
func (s *session) refresh() error {
	if err := s.srv.idx.refresh(); err != nil {
		return s.internalErr("refresh mailbox index", err)
	}
	return nil
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	if err := s.refresh(); err != nil {
		return err
	}
	subs, err := s.subscriptionFilter(options)
	if err != nil {
		return s.internalErr("list", err)
	}
	special := options != nil && options.SelectSpecialUse
	matched := make([]bool, len(patterns))
	write := func(f folderEntry) error {
		attrs, ok := subs.apply(f)
		if !ok {
			return nil
		}
		return w.WriteList(&imap.ListData{Mailbox: f.name, Delim: delim, Attrs: attrs})
	}
	for _, f := range s.listFolders() {
		if special && !isSpecialUse(f.attrs) {
			continue
		}
		match := false
		for i, p := range patterns {
			if imapserver.MatchList(f.name, delim, ref, p) {
				match, matched[i] = true, true
				break
			}
		}
		if !match {
			continue
		}
		if err := write(f); err != nil {
			return err
		}
	}
	// A pattern without wildcards may name a folder LIST leaves out: an
	// older closed case's (listed.go).
	for i, p := range patterns {
		name, ok := literalListName(ref, p)
		if matched[i] || special || !ok {
			continue
		}
		if f, ok := s.srv.idx.unlisted(name); ok {
			if err := write(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// literalListName is the folder a LIST reference and pattern name when the
// pattern has no wildcards (as imapserver.MatchList combines them).
func literalListName(ref, pattern string) (string, bool) {
	if strings.ContainsAny(ref+pattern, "*%") {
		return "", false
	}
	if p, ok := strings.CutPrefix(pattern, string(delim)); ok {
		return p, true
	}
	if ref != "" && !strings.HasSuffix(ref, string(delim)) {
		ref += string(delim)
	}
	return ref + pattern, true
}

// listFolders is every folder the session sees, INBOX first, then by name.
func (s *session) listFolders() []folderEntry {
	all := s.srv.idx.folders()
	list := make([]folderEntry, 0, len(all)+len(personalFolders))
	list = append(append(list, all...), personalList(s.user)...)
	sort.SliceStable(list[1:], func(i, j int) bool { return list[1+i].name < list[1+j].name })
	return list
}

// folderKey resolves a folder name for SELECT, EXAMINE and STATUS.
func (s *session) folderKey(name string) (string, error) {
	if key, ok := s.personalKey(name); ok {
		return key, nil
	}
	key, ok := s.srv.idx.lookup(name)
	if !ok {
		return "", nonExistent(name)
	}
	if key == "" {
		return "", noErr(imap.ResponseCodeCannot, fmt.Sprintf("%s only holds the case folders, not messages", name))
	}
	return key, nil
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	key, err := s.folderKey(name)
	if err != nil {
		return nil, err
	}
	st, err := s.srv.idx.status(key, options)
	if err != nil {
		return nil, s.internalErr("status", err)
	}
	st.Mailbox = name
	return st, nil
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if s.view != nil {
		s.Unselect()
	}
	if err := s.refresh(); err != nil {
		return nil, err
	}
	key, err := s.folderKey(name)
	if err != nil {
		return nil, err
	}
	x := s.srv.idx
	personal := isPersonalKey(key)
	m, err := x.open(key)
	if err != nil {
		return nil, s.internalErr("select", err)
	}
	m.mu.Lock()
	v := m.newViewLocked(options != nil && options.ReadOnly)
	numRecent := v.selectRecentLocked()
	data := &imap.SelectData{
		Flags: slices.Clone(m.flags), NumMessages: uint32(len(v.uids)), NumRecent: numRecent,
		UIDNext: m.uidNext, UIDValidity: m.uidValidity,
		// Without \Deleted in case folders, so clients do not offer to
		// delete there (RFC 3501 section 7.1: PERMANENTFLAGS).
		PermanentFlags: permanentFlags(personal),
	}
	items := append([]string(nil), m.items...)
	m.mu.Unlock()
	if v.readOnly {
		data.PermanentFlags = nil
	}
	s.mu.Lock()
	s.view = v
	s.mu.Unlock()
	fl, err := x.flags(items)
	if err != nil {
		s.Unselect()
		return nil, s.internalErr("select", err)
	}
	for i, item := range items {
		if !hasFlag(fl[item], imap.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	s.log.Debug("select", "folder", name, "messages", data.NumMessages, "recent", numRecent)
	return data, nil
}

func (s *session) Unselect() error {
	s.mu.Lock()
	v := s.view
	s.view = nil
	s.mu.Unlock()
	if v != nil {
		v.mbox.closeView(v)
		s.srv.idx.release(v.mbox)
	}
	return nil
}

func (s *session) Create(name string, _ *imap.CreateOptions) error {
	ok, err := s.folderExists(name)
	if err != nil {
		return err
	}
	if ok {
		return noErr(imap.ResponseCodeAlreadyExists, name+" already exists")
	}
	return noErr(imap.ResponseCodeCannot, "Parley makes the folders itself, one per case; it cannot create "+name)
}

func (s *session) Delete(name string) error {
	if _, ok := s.personalKey(name); ok {
		return noErr(imap.ResponseCodeCannot, "Sent, Drafts and Trash are kept: delete the messages in them instead")
	}
	if err := s.refresh(); err != nil {
		return err
	}
	key, ok := s.srv.idx.lookup(name)
	switch {
	case !ok:
		return nonExistent(name)
	case key == keyInbox:
		return noErr(imap.ResponseCodeCannot, "INBOX cannot be deleted")
	default:
		return noErr(imap.ResponseCodeCannot, "Case folders hold evidence and cannot be deleted; closed cases move to Closed/ and are purged after the retention period")
	}
}

func (s *session) Rename(oldName, _ string, _ *imap.RenameOptions) error {
	ok, err := s.folderExists(oldName)
	if err != nil {
		return err
	}
	if !ok {
		return nonExistent(oldName)
	}
	return noErr(imap.ResponseCodeCannot, "Folder names follow the cases and cannot be changed: "+oldName)
}

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if err := s.srv.idx.refreshIfOlder(pollRefreshAge); err != nil {
		s.log.Error("refresh mailbox index", "err", err)
	}
	if s.view == nil {
		return nil
	}
	return s.view.poll(s.srv.idx, w, allowExpunge)
}

// pollRefreshAge is how fresh the index must be when a command ends (NOOP
// included); the poller refreshes it every PollInterval in any case.
const pollRefreshAge = 100 * time.Millisecond

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.mu.Lock()
	v := s.view
	s.mu.Unlock()
	if v == nil {
		<-stop
		return nil
	}
	return v.idle(s.srv.idx, w, stop)
}

// Store changes flags. Its FETCH answers come at once, unless FLAGS must be
// announced first (a new keyword): then they come from the poll at the
// command's end, which sends FLAGS before them.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, sf *imap.StoreFlags, _ *imap.StoreOptions) error {
	v := s.view
	if v.readOnly {
		return noErr(imap.ResponseCodeCannot, "The folder was opened with EXAMINE (read-only)")
	}
	flags := make([]imap.Flag, 0, len(sf.Flags))
	for _, f := range sf.Flags {
		if strings.EqualFold(string(f), string(flagRecent)) {
			continue // set by the server alone (RFC 3501 section 2.3.2)
		}
		cf, err := canonFlag(f, isPersonalKey(v.mbox.key))
		if err != nil {
			return err
		}
		flags = append(flags, cf)
	}
	// Messages another session expunged are left out: the client learns
	// of the EXPUNGE at its next command that allows one.
	ts, _ := v.targets(numSet)
	items := make([]string, len(ts))
	for i, t := range ts {
		items[i] = t.item
	}
	final, _, err := s.srv.idx.storeFlags(items, sf.Op, flags, v)
	if err != nil {
		return s.internalErr("store", err)
	}
	if sf.Silent {
		return nil
	}
	if v.flagsStale() {
		uids := make([]imap.UID, len(ts))
		for i, t := range ts {
			uids[i] = t.uid
		}
		v.markChanged(uids...)
		return nil
	}
	for _, t := range ts {
		rw := w.CreateMessage(t.client)
		rw.WriteUID(t.uid)
		rw.WriteFlags(v.withRecent(t.uid, final[t.item]))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}
