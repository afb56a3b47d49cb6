package threading

import (
	"crypto/rand"
	"regexp"
	"strings"
)

// NewMessageID returns a globally unique Message-ID (with angle brackets) for
// mail Parley writes about caseID.
func NewMessageID(caseID, host string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return "<" + encode(b) + "." + strings.ToLower(caseID) + "@" + host + ">"
}

// maxReferences bounds the References header; RFC 5322 allows trimming the
// middle, and clients thread on the first and last ids.
const maxReferences = 10

// References returns the References list for a new message in a thread whose
// earlier ids are refs (oldest first): the root plus the most recent ones.
func References(refs []string) []string {
	if len(refs) <= maxReferences {
		return refs
	}
	out := []string{refs[0]}
	return append(out, refs[len(refs)-maxReferences+1:]...)
}

var tagRe = regexp.MustCompile(`\[(?:Parley )?([0-9A-Za-z]{3}-[0-9A-Za-z]{4})\]`)

// SubjectTag is the tag Parley puts in the subject of every message of a case.
func SubjectTag(caseID string) string { return "[" + caseID + "]" }

// CaseFromSubject finds a case tag in a subject, for mail that reached a
// generic address but belongs to a case.
func CaseFromSubject(subject string) (string, bool) {
	m := tagRe.FindStringSubmatch(subject)
	if m == nil || !ValidCaseID(m[1]) {
		return "", false
	}
	return NormalizeCaseID(m[1]), true
}

var replyPrefix = regexp.MustCompile(`(?i)^\s*((re|fw|fwd|aw|wg|sv|vs|antw|odp|rif|r|tr|ref|res)\s*(\[\d+\])?\s*:\s*)+`)

// BaseSubject strips reply/forward prefixes and the case tag, for the case title.
func BaseSubject(subject string) string {
	s := replyPrefix.ReplaceAllString(subject, "")
	s = tagRe.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	return s
}

// CaseSubject is the subject of every message of a case: tag plus title. Using
// the same base subject throughout keeps Gmail, which also threads by subject,
// on one conversation.
func CaseSubject(caseID, title string, reply bool) string {
	s := SubjectTag(caseID) + " " + title
	if reply {
		s = "Re: " + s
	}
	return sanitizeHeader(s)
}

// sanitizeHeader removes characters that could end or fold a header line.
func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 || (r < 0x20 && r != '\t') {
			return ' '
		}
		return r
	}, s)
}

// SanitizeHeader is sanitizeHeader for other packages that put user text in headers.
func SanitizeHeader(s string) string { return strings.TrimSpace(sanitizeHeader(s)) }
