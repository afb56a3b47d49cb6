package imapd

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"

	"parley/casestore"
)

// withReplyTo returns raw with every Reply-To field of its header removed and
// "Reply-To: <addr>" added as the first line, so pressing Reply in any client
// writes to the case. The result depends only on raw and addr: the bytes
// served for a UID never change.
func withReplyTo(raw []byte, addr string) []byte {
	out := make([]byte, 0, len(raw)+len(addr)+64)
	out = append(out, "Reply-To: <"...)
	out = append(out, addr...)
	out = append(out, ">\r\n"...)
	if len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t') {
		// A header that starts with white space would continue our field;
		// this field takes the stray line instead.
		out = append(out, "X-Parley-Warning: the header began with white space\r\n"...)
	}
	return appendWithout(out, raw, "Reply-To")
}

// inThread returns raw with its In-Reply-To and References replaced by root,
// so every message of a case folder is one thread under it, whatever the
// writer's client put there (a party replies to relays the mailbox does not
// show).
func inThread(raw []byte, root string) []byte {
	out := make([]byte, 0, len(raw)+2*len(root)+32)
	out = append(out, "In-Reply-To: "+root+"\r\nReferences: "+root+"\r\n"...)
	return appendWithout(out, raw, "In-Reply-To", "References")
}

// appendWithout appends raw to out without the header fields named
// (continuation lines included).
func appendWithout(out, raw []byte, names ...string) []byte {
	skipping := false
	for i := 0; i < len(raw); {
		line := nextLine(raw[i:])
		if isBlankLine(line) {
			return append(out, raw[i:]...)
		}
		if line[0] != ' ' && line[0] != '\t' {
			skipping = false
			for _, n := range names {
				skipping = skipping || isField(line, n)
			}
		}
		if !skipping {
			out = append(out, line...)
		}
		i += len(line)
	}
	return out
}

// withFields puts header fields (already safe: made by Parley from its own
// rows) at the top of raw.
func withFields(raw []byte, fields []string) []byte {
	if len(fields) == 0 {
		return raw
	}
	var head []byte
	for _, f := range fields {
		head = append(head, f...)
		head = append(head, "\r\n"...)
	}
	return append(head, raw...)
}

// nextLine returns b up to and including its first LF, or all of b.
func nextLine(b []byte) []byte {
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		return b[:j+1]
	}
	return b
}

func isBlankLine(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// isField reports whether a header line starts the field name (any case,
// white space before the colon tolerated).
func isField(line []byte, name string) bool {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return false
	}
	return strings.EqualFold(string(bytes.TrimRight(line[:i], " \t")), name)
}

// headerEnd returns the offset where the body starts: after the first blank
// line, or len(b) when the message has no blank line.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); {
		line := nextLine(b[i:])
		i += len(line)
		if isBlankLine(line) {
			return i
		}
	}
	return len(b)
}

// headerFields splits a header block into fields (a line and its
// continuation lines), dropping the blank line.
func headerFields(hdr []byte) [][]byte {
	var fields [][]byte
	for i := 0; i < len(hdr); {
		line := nextLine(hdr[i:])
		if isBlankLine(line) {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = last[:len(last)+len(line)]
		} else {
			fields = append(fields, hdr[i:i+len(line)])
		}
		i += len(line)
	}
	return fields
}

// validField reports whether a header field has a well-formed name.
func validField(f []byte) bool {
	if f[0] == ' ' || f[0] == '\t' {
		return false
	}
	i := bytes.IndexByte(f, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(f[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// fieldName returns the name of a header field.
func fieldName(f []byte) string {
	i := bytes.IndexByte(f, ':')
	if i < 0 {
		return ""
	}
	return string(bytes.TrimRight(f[:i], " \t"))
}

// crlf ends a field that lacks a line ending (the last line of a message).
func crlf(f []byte) []byte {
	if bytes.HasSuffix(f, []byte("\n")) {
		return f
	}
	return append(bytes.Clone(f), '\r', '\n')
}

// noteMessage synthesises an internal note as a text/plain message. It uses
// only the event and the case's fixed Reply-To address, so it is the same on
// every fetch.
func noteMessage(caseID string, ev *casestore.Event, replyTo string) []byte {
	domain := replyTo
	if i := strings.LastIndexByte(replyTo, '@'); i >= 0 {
		domain = replyTo[i+1:]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Date: %s\r\n", ev.Time.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: Parley internal note <%s>\r\n", replyTo)
	fmt.Fprintf(&b, "To: <%s>\r\n", replyTo)
	fmt.Fprintf(&b, "Subject: [%s] Internal note\r\n", caseID)
	fmt.Fprintf(&b, "Message-ID: <note.%d.%s@%s>\r\n", ev.Seq, strings.ToLower(caseID), domain)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	fmt.Fprintf(&b, "X-Parley-Case: %s\r\n", caseID)
	fmt.Fprintf(&b, "X-Parley-Event: %d\r\n", ev.Seq)
	b.WriteString("\r\n")
	text := strings.ReplaceAll(strings.ReplaceAll(ev.Text, "\r\n", "\n"), "\r", "\n")
	if ev.Role != "" {
		text = "Internal note by the " + string(ev.Role) + ", not sent to the parties:\n\n" + text
	}
	w := quotedprintable.NewWriter(&b)
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			w.Write([]byte("\r\n"))
		}
		w.Write([]byte(line))
	}
	w.Write([]byte("\r\n"))
	w.Close()
	return b.Bytes()
}
