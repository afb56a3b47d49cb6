package imapd

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"parley/casestore"
)

// Folder names and keys. A folder's key is what the mailbox index stores
// (stable for the folder's life); its name is what clients see, and changes
// when a case closes or its trader's name is filled in.
const (
	delim          = '/'
	inboxName      = "INBOX"
	casesRoot      = "Cases"
	closedRoot     = "Closed"
	quarantineName = "Quarantine"

	keyInbox = "inbox"
)

func caseFolderKey(id string) string       { return "c/" + id }
func quarantineFolderKey(id string) string { return "q/" + id }

// folderName is the name of a case's folder, e.g. "Cases/K7Q-4M2P-Acme-Shop":
// no spaces, so it is typed as it is in mutt (no ^V) and in any client's
// folder prompt.
func folderName(mc casestore.MailCase) string {
	root := casesRoot
	if mc.Closed {
		root = closedRoot
	}
	name := root + string(delim) + mc.ID
	if mc.Label != "" {
		name += "-" + mc.Label
	}
	return name
}

// maxLabel bounds the name part of a folder, in characters.
const maxLabel = 48

// caseLabel is the readable part of a case's folder name: the trader's name,
// else the case title, made safe for IMAP: no hierarchy delimiter, no LIST
// wildcards, no quotes or backslashes, no control characters.
func caseLabel(c *casestore.Case) string {
	s := c.Trader.Name
	if strings.TrimSpace(s) == "" {
		s = c.Title
	}
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if r == delim || r == '\\' || r == '%' || r == '*' || r == '"' || unicode.IsSpace(r) || unicode.IsControl(r) ||
			r == utf8.RuneError || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if n >= maxLabel {
			break
		}
		if space {
			b.WriteByte('-')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return strings.Trim(b.String(), "-")
}

// folderEntry is one line of LIST.
type folderEntry struct {
	name  string
	key   string // "" for a parent that cannot be selected
	attrs []imap.MailboxAttr
}

// Items are what a folder shows: an inbound message, an outbound message, or
// an internal note. Their reference names the case first, so every index
// entry of a case is found by prefix.
const (
	kindMessage  = 'm'
	kindOutbound = 'o'
	kindNote     = 'n'
)

func itemRef(caseID string, kind byte, id uint64) string {
	return caseID + "/" + string(kind) + strconv.FormatUint(id, 10)
}

func parseItem(item string) (caseID string, kind byte, id uint64, err error) {
	caseID, rest, ok := strings.Cut(item, "/")
	if !ok || len(rest) < 2 {
		return "", 0, 0, fmt.Errorf("bad mailbox item %q", item)
	}
	id, err = strconv.ParseUint(rest[1:], 10, 64)
	if err != nil {
		return "", 0, 0, fmt.Errorf("bad mailbox item %q", item)
	}
	return caseID, rest[0], id, nil
}
