package imapd

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// systemFlags returns the system flags Parley keeps in case folders, in RFC
// casing (some clients drop flags sent in other casing). \Deleted is
// refused: nothing is expunged.
func systemFlags() []imap.Flag {
	return []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagSeen}
}

// personalSystemFlags are the system flags of a mediator's personal
// folders: their messages are the mediator's own copies, so \Deleted and
// \Draft are kept too.
func personalSystemFlags() []imap.Flag {
	return []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}
}

func systemFlagsOf(personal bool) []imap.Flag {
	if personal {
		return personalSystemFlags()
	}
	return systemFlags()
}

// permanentFlags is PERMANENTFLAGS: the system flags and any new keyword.
func permanentFlags(personal bool) []imap.Flag {
	return append(systemFlagsOf(personal), imap.FlagWildcard)
}

func isKeyword(f imap.Flag) bool { return !strings.HasPrefix(string(f), `\`) }

// canonFlag returns a flag in RFC casing, or an error saying why it cannot be
// stored (in a personal folder or a case folder).
func canonFlag(f imap.Flag, personal bool) (imap.Flag, error) {
	for _, s := range systemFlagsOf(personal) {
		if strings.EqualFold(string(f), string(s)) {
			return s, nil
		}
	}
	if strings.EqualFold(string(f), string(imap.FlagDeleted)) {
		return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
			Text: `Messages in Parley are case evidence and cannot be deleted, so \Deleted cannot be set`}
	}
	if !isKeyword(f) {
		return "", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
			Text: `Flag ` + string(f) + ` is not kept here: use \Seen, \Answered, \Flagged or keywords`}
	}
	if f == "" || strings.ContainsAny(string(f), " \t\r\n()[]{}%*\"\\") {
		return "", &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid keyword"}
	}
	return f, nil
}

// applyFlags computes an item's flags after a STORE; flags are canonical.
func applyFlags(cur []string, op imap.StoreFlagsOp, flags []string) []string {
	set := make(map[string]string, len(cur)+len(flags)) // lower-cased -> as stored
	if op != imap.StoreFlagsSet {
		for _, f := range cur {
			set[strings.ToLower(f)] = f
		}
	}
	for _, f := range flags {
		if op == imap.StoreFlagsDel {
			delete(set, strings.ToLower(f))
		} else {
			set[strings.ToLower(f)] = f
		}
	}
	out := make([]string, 0, len(set))
	for _, f := range set {
		out = append(out, f)
	}
	sortFlags(out)
	return out
}

// sortFlags orders system flags first (\Answered \Flagged \Seen), then
// keywords alphabetically.
func sortFlags(fs []string) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		as, bs := strings.HasPrefix(a, `\`), strings.HasPrefix(b, `\`)
		if as != bs {
			return as
		}
		return strings.ToLower(a) < strings.ToLower(b)
	})
}

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mergeKeywords(have, add []string) []string {
	seen := make(map[string]bool, len(have))
	out := append([]string{}, have...)
	for _, k := range have {
		seen[strings.ToLower(k)] = true
	}
	for _, k := range add {
		if !seen[strings.ToLower(k)] {
			seen[strings.ToLower(k)] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
