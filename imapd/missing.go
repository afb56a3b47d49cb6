package imapd

import (
	"fmt"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
)

// Folders that do not exist get the response codes clients act on: APPEND,
// COPY and MOVE into one answer NO [TRYCREATE] (RFC 3501 sections 6.3.11 and
// 6.4.7, RFC 6851), so a client offers to create it (and CREATE then says
// why Parley cannot); SELECT, EXAMINE, STATUS, DELETE, RENAME and SUBSCRIBE
// answer NO [NONEXISTENT] (RFC 5530). Folders that exist but refuse the
// command keep their own codes and reasons ([CANNOT], [ALREADYEXISTS]).

// folderExists reports whether name is a folder this session can see:
// INBOX, a case folder, a parent, or one of its personal folders.
func (s *session) folderExists(name string) (bool, error) {
	if _, ok := s.personalKey(name); ok {
		return true, nil
	}
	if err := s.refresh(); err != nil {
		return false, err
	}
	_, ok := s.srv.idx.lookup(name)
	return ok, nil
}

// destination resolves the folder APPEND, COPY or MOVE files into: the key
// of a personal folder, "" for a folder that exists but takes no messages
// (the caller says why), or NO [TRYCREATE].
func (s *session) destination(name string) (string, error) {
	if key, ok := s.personalKey(name); ok {
		return key, nil
	}
	ok, err := s.folderExists(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", noErr(imap.ResponseCodeTryCreate, fmt.Sprintf("No folder %q; your own folders are Sent, Drafts and Trash", name))
	}
	return "", nil
}

func nonExistent(name string) error {
	return noErr(imap.ResponseCodeNonExistent, fmt.Sprintf("No folder %q: there is INBOX, one folder per case under %s/ and %s/, and your own Sent, Drafts and Trash", name, casesRoot, closedRoot))
}

// expunged reports whether item left folder key, which is why its content
// may be gone: another session expunged or moved it (personal folders), or
// the case was purged.
func (x *index) expunged(key, item string) bool {
	gone := false
	err := x.store.View(func(tx *casestore.Tx) error {
		es, err := tx.MailItems(key, item)
		if err != nil {
			return err
		}
		gone = true
		for _, e := range es {
			if e.Item == item {
				gone = false
			}
		}
		return nil
	})
	return err == nil && gone
}
