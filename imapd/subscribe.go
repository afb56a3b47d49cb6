package imapd

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
)

// Subscriptions (RFC 3501 sections 6.3.6 to 6.3.9), per mediator. Every
// folder counts as subscribed until its mediator unsubscribes it: case
// folders appear with the cases, and a client that shows only subscribed
// folders (Thunderbird's default) must show a new case without being told.
// What a mediator unsubscribes is recorded (casestore.SetMailSubscribed) by
// the folder's key, so a case folder stays unsubscribed when it moves from
// Cases/ to Closed/ or its name gains the trader's; LSUB and LIST
// (SUBSCRIBED) leave it out, and SUBSCRIBE brings it back.
//
// SUBSCRIBE to a folder that does not exist answers NO [NONEXISTENT], as
// Dovecot does: RFC 3501 allows recording such a name, but here it could only
// ever name a folder Parley makes itself, and a client that subscribes a
// typo should hear so. UNSUBSCRIBE of any name answers OK (nothing to undo
// for a name that is not subscribed).

// subEntry is what records a folder's subscription: its key, or for a parent
// (Cases, Closed: no key) its name.
func subEntry(f folderEntry) string {
	if f.key != "" {
		return f.key
	}
	return "n/" + f.name
}

// findFolder returns the LIST entry of name among the session's folders.
func (s *session) findFolder(name string) (folderEntry, bool, error) {
	if err := s.refresh(); err != nil {
		return folderEntry{}, false, err
	}
	for _, f := range s.listFolders() {
		if f.name == name {
			return f, true, nil
		}
	}
	f, ok := s.srv.idx.unlisted(name)
	return f, ok, nil
}

func (s *session) Subscribe(name string) error {
	f, ok, err := s.findFolder(name)
	if err != nil {
		return err
	}
	if !ok {
		return nonExistent(name)
	}
	return s.setSubscribed(f, true)
}

func (s *session) Unsubscribe(name string) error {
	f, ok, err := s.findFolder(name)
	if err != nil || !ok {
		return err
	}
	return s.setSubscribed(f, false)
}

func (s *session) setSubscribed(f folderEntry, on bool) error {
	err := s.srv.store.Update(func(tx *casestore.Tx) error {
		return tx.SetMailSubscribed(s.user, subEntry(f), on)
	})
	if err != nil {
		return s.internalErr("subscribe", fmt.Errorf("%s: %w", f.name, err))
	}
	return nil
}

// unsubscribed returns the folder entries the session's mediator unsubscribed.
func (s *session) unsubscribed() (map[string]bool, error) {
	out := map[string]bool{}
	err := s.srv.store.View(func(tx *casestore.Tx) error {
		for _, e := range tx.MailUnsubscribed(s.user) {
			out[e] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read subscriptions of %s: %w", s.user, err)
	}
	return out, nil
}

// subscriptionFilter says, for LIST and LSUB, whether to list a folder and
// whether to mark it \Subscribed (RFC 5258: LIST (SUBSCRIBED) and RETURN
// (SUBSCRIBED); go-imap turns LSUB into the first).
type subscriptionFilter struct {
	only, mark bool
	unsubbed   map[string]bool
}

func (s *session) subscriptionFilter(o *imap.ListOptions) (subscriptionFilter, error) {
	var sf subscriptionFilter
	if o == nil || !(o.SelectSubscribed || o.ReturnSubscribed) {
		return sf, nil
	}
	sf.only, sf.mark = o.SelectSubscribed, true
	var err error
	sf.unsubbed, err = s.unsubscribed()
	return sf, err
}

// apply returns a folder's attributes and whether to list it.
func (sf subscriptionFilter) apply(f folderEntry) ([]imap.MailboxAttr, bool) {
	if !sf.mark {
		return f.attrs, true
	}
	if sf.unsubbed[subEntry(f)] {
		return f.attrs, !sf.only
	}
	return append(append([]imap.MailboxAttr{}, f.attrs...), imap.MailboxAttrSubscribed), true
}
