// Package evidence turns a raw message into what the procedure needs: sender,
// subject, thread headers, the text (plain, or HTML converted), attachments with
// sanitised names, declared and sniffed types and SHA-256, and what was wrong
// with it. Parsing uses github.com/jhillyerd/enmime/v2 (RFC 2045-2049, RFC 2047
// and RFC 2231 names, charsets); a message it cannot parse is still returned,
// flagged, with whatever text could be recovered. It also recognises automatic
// replies (RFC 3834 and the common non-standard markers).
package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/dsn"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// Attachment is one file part of a message.
type Attachment struct {
	Name     string // sanitised file name, never empty
	Declared string // Content-Type as declared
	Sniffed  string // Content-Type sniffed from the bytes
	Size     int64
	SHA256   string
	Inline   bool
	Data     []byte
}

// Message is a parsed message.
type Message struct {
	FromAddr        string // lower-cased address from the From header ("" if none)
	FromName        string
	ReplyTo         string
	Subject         string
	MessageID       string
	InReplyTo       string
	References      []string
	ContentLanguage string
	Text            string // plain text, or the HTML part as text
	Attachments     []Attachment
	Problems        []string // what was wrong; non-empty means malformed
	// Bounce is the RFC 3464 delivery status report, when the message is one.
	Bounce *Bounce
	header func(string) string
}

// Bounce is what a delivery status notification says about one recipient.
type Bounce struct {
	Action     string // failed, delayed, delivered, relayed, expanded
	Status     string // RFC 3463 status, e.g. 5.1.1
	Recipient  string // Final-Recipient or Original-Recipient
	Diagnostic string // Diagnostic-Code, e.g. "smtp; 550 5.1.1 no such user"
}

// Failed reports whether the report says the message could not be delivered.
func (b *Bounce) Failed() bool {
	return strings.EqualFold(b.Action, "failed") || strings.HasPrefix(b.Status, "5.")
}

// Header returns the first value of a header (decoded).
func (m *Message) Header(name string) string {
	if m.header == nil {
		return ""
	}
	return m.header(name)
}

// Malformed reports whether parsing found errors.
func (m *Message) Malformed() bool { return len(m.Problems) > 0 }

// Parser holds the enmime parser configuration.
type Parser struct {
	p     *enmime.Parser // 8-bit mail that is not UTF-8: guess undeclared charsets
	ascii *enmime.Parser // 7-bit mail: nothing to guess
	utf8  *enmime.Parser // 8-bit mail that is valid UTF-8 throughout
}

// NewParser returns a parser that keeps going over malformed parts. A declared
// charset is trusted (as MUAs do); only undeclared text that actually carries
// 8-bit bytes is run through charset detection, which is by far the most
// expensive step of parsing.
func NewParser() *Parser {
	opts := []enmime.Option{
		enmime.SkipMalformedParts(true),
		enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
		enmime.MaxStoredPartErrors(20),
		enmime.DisableCharacterDetection(true),
	}
	return &Parser{
		p:     enmime.NewParser(opts...),
		ascii: enmime.NewParser(append(opts, enmime.SetCustomParseMediaType(declare("us-ascii")))...),
		utf8:  enmime.NewParser(append(opts, enmime.SetCustomParseMediaType(declare("utf-8")))...),
	}
}

// declare gives undeclared text parts a charset so that enmime does not
// guess: us-ascii (RFC 2045's default) for 7-bit mail, and utf-8 for 8-bit
// mail that is valid UTF-8 throughout, which statistical detection on a
// short text often takes for Latin-1.
func declare(charset string) enmime.CustomParseMediaType {
	return func(ctype string) (string, map[string]string, []string, error) {
		mtype, params, invalid, err := mediatype.Parse(ctype)
		if err == nil && (mtype == "" || strings.HasPrefix(mtype, "text/")) && params["charset"] == "" {
			if params == nil {
				params = map[string]string{}
			}
			params["charset"] = charset
		}
		return mtype, params, invalid, err
	}
}

// Structure limits beyond which a message is not parsed as MIME (it is still
// stored raw, flagged, and its body relayed as text).
const (
	maxMultiparts = 100  // multipart containers, nested or not
	maxParts      = 2000 // Content-Type fields in all
)

// tooComplex says why a message's MIME structure is beyond the limits, or "".
// It counts lines that start with a Content-Type field, and those whose value
// (after any white space, folding included) starts with multipart/, in one
// pass that jumps from line to line: it runs on every message received.
func tooComplex(raw []byte) string {
	var parts, multiparts int
	for i := 0; i < len(raw); {
		line := raw[i:]
		if len(line) >= len(ctField) && (line[0]|0x20) == 'c' && asciiHasPrefixFold(line, ctField) {
			parts++
			v := line[len(ctField):]
			j := 0
			for j < len(v) && (v[j] == ' ' || v[j] == '\t' || v[j] == '\r' || v[j] == '\n' || v[j] == '\f') {
				j++
			}
			if asciiHasPrefixFold(v[j:], "multipart/") {
				multiparts++
			}
			if multiparts > maxMultiparts {
				return fmt.Sprintf("more than %d multipart containers: not parsed as MIME", maxMultiparts)
			}
			if parts > maxParts {
				return fmt.Sprintf("more than %d MIME parts: not parsed as MIME", maxParts)
			}
		}
		nl := bytes.IndexByte(line, '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	return ""
}

const ctField = "content-type:"

// asciiHasPrefixFold reports whether b starts with the lower-case ASCII
// prefix, ignoring the case of b's letters.
func asciiHasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// hasContentType reports whether the top header block has Content-Type.
func hasContentType(raw []byte) bool {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	for _, line := range bytes.Split(raw[:end], []byte("\n")) {
		if len(line) > 13 && bytes.EqualFold(line[:13], []byte("content-type:")) {
			return true
		}
	}
	return false
}

func is7bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Parse reads raw. It never fails: problems are reported in Problems.
func (p *Parser) Parse(raw []byte) (msg *Message) {
	msg = &Message{}
	defer func() {
		// enmime is third-party code fed hostile input: a panic there must not
		// stop the worker. The message stays stored raw and flagged.
		if r := recover(); r != nil {
			msg = fallback(raw, fmt.Sprintf("parser panic: %v", r))
		}
	}()
	if why := tooComplex(raw); why != "" {
		// enmime's cost grows with the square of the nesting depth: a small
		// message nested thousands deep would hold a worker for minutes.
		return fallback(raw, why)
	}
	parser := p.p
	switch {
	case is7bit(raw):
		parser = p.ascii
	case utf8.Valid(raw):
		parser = p.utf8
		if !hasContentType(raw) {
			// enmime gives a root part without Content-Type no charset at all;
			// say what the bytes are (the stored raw stays as it came).
			raw = append([]byte("Content-Type: text/plain; charset=utf-8\r\n"), raw...)
		}
	}
	env, err := parser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return fallback(raw, "unparseable MIME: "+err.Error())
	}
	msg.header = env.GetHeader
	for _, e := range env.Errors {
		if e.Severe {
			msg.Problems = append(msg.Problems, e.Error())
		}
	}
	fillHeaders(msg, env.GetHeader)
	msg.Text = env.Text
	if strings.TrimSpace(msg.Text) == "" && env.HTML != "" {
		msg.Text = htmlToText(env.HTML)
	}
	parts := append(append([]*enmime.Part{}, env.Attachments...), env.Inlines...)
	for i, part := range parts {
		msg.Attachments = append(msg.Attachments, attachment(part, i+1, i >= len(env.Attachments)))
	}
	if rep, err := dsn.ParseReport(env.Root); err == nil && rep != nil && len(rep.DeliveryStatus.RecipientDSNs) > 0 {
		r := rep.DeliveryStatus.RecipientDSNs[0]
		msg.Bounce = &Bounce{Action: strings.ToLower(strings.TrimSpace(r.Get("Action"))), Status: strings.TrimSpace(r.Get("Status")),
			Recipient: dsnAddress(r.Get("Final-Recipient"), r.Get("Original-Recipient")), Diagnostic: strings.TrimSpace(r.Get("Diagnostic-Code"))}
	}
	for _, part := range env.OtherParts {
		if part.FileName != "" || len(part.Content) > 0 {
			msg.Attachments = append(msg.Attachments, attachment(part, len(msg.Attachments)+1, true))
		}
	}
	if strings.TrimSpace(msg.Text) == "" && len(msg.Attachments) == 0 {
		// A broken structure (say, a multipart whose boundary never occurs)
		// can parse "successfully" into nothing. The words are still there.
		if body := bodyOf(raw); len(bytes.TrimSpace(body)) > 0 {
			msg.Problems = append(msg.Problems, "MIME structure yields no text or attachment; body read as plain text")
			msg.Text = asText(body)
		}
	}
	return msg
}

// cleanAddress lower-cases the domain and refuses addresses with control
// characters or spaces (returned as ""), which no reply could reach.
func cleanAddress(addr string) string {
	if !ValidAddress(addr) {
		return ""
	}
	i := strings.LastIndexByte(addr, '@')
	return addr[:i] + strings.ToLower(addr[i:])
}

// ValidAddress reports whether addr is usable as an envelope address: one @,
// no control characters, no spaces, bounded length.
func ValidAddress(addr string) bool {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 || len(addr) > 254 {
		return false
	}
	for _, r := range addr {
		if r < 0x21 || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	return true
}

// dsnAddress strips the address type ("rfc822; x@y") from a DSN recipient field.
func dsnAddress(fields ...string) string {
	for _, f := range fields {
		if _, addr, ok := strings.Cut(f, ";"); ok && strings.TrimSpace(addr) != "" {
			return strings.ToLower(strings.TrimSpace(addr))
		}
	}
	return ""
}

// bodyOf returns what follows the header block.
func bodyOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[i+4:]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[i+2:]
	}
	return nil
}

// asText returns b as UTF-8, reading invalid UTF-8 as Latin-1 (the most
// common undeclared charset) so that no byte is silently dropped.
func asText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func fillHeaders(msg *Message, get func(string) string) {
	// The local part keeps its case (RFC 5321 2.4: it may matter to the
	// receiving system); comparisons normalise.
	if a, err := mail.ParseAddress(get("From")); err == nil {
		msg.FromAddr, msg.FromName = cleanAddress(a.Address), a.Name
	} else if list, err := mail.ParseAddressList(get("From")); err == nil && len(list) > 0 {
		msg.FromAddr, msg.FromName = cleanAddress(list[0].Address), list[0].Name
	}
	if a, err := mail.ParseAddress(get("Reply-To")); err == nil {
		msg.ReplyTo = strings.ToLower(a.Address)
	}
	msg.Subject = get("Subject")
	msg.MessageID = strings.TrimSpace(get("Message-Id"))
	msg.InReplyTo = strings.TrimSpace(get("In-Reply-To"))
	msg.References = strings.Fields(get("References"))
	msg.ContentLanguage = strings.TrimSpace(get("Content-Language"))
}

// fallback recovers what it can from a message enmime rejected: the header
// block via net/mail, and the body bytes as text when they are valid UTF-8.
func fallback(raw []byte, problem string) *Message {
	msg := &Message{Problems: []string{problem}}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		dec := new(enmimeDecoder)
		msg.header = func(name string) string { return dec.decode(m.Header.Get(name)) }
		fillHeaders(msg, msg.header)
		var body bytes.Buffer
		body.ReadFrom(m.Body)
		msg.Text = asText(body.Bytes())
	}
	return msg
}

type enmimeDecoder struct{}

func (enmimeDecoder) decode(s string) string { return enmime.DecodeRFC2047(s) }

func attachment(part *enmime.Part, n int, inline bool) Attachment {
	sum := sha256.Sum256(part.Content)
	declared := part.ContentType
	if declared == "" {
		declared = "application/octet-stream"
	}
	sniffed := Sniff(part.Content)
	return Attachment{
		Name:     SanitizeName(part.FileName, n, declared),
		Declared: declared,
		Sniffed:  sniffed,
		Size:     int64(len(part.Content)),
		SHA256:   hex.EncodeToString(sum[:]),
		Inline:   inline,
		Data:     part.Content,
	}
}

// SanitizeName makes a file name safe to show and to write in a case file: no
// path, no control or reserved characters, bounded length, never empty.
func SanitizeName(name string, n int, contentType string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || unicode.Is(unicode.Cf, r):
			return -1
		case strings.ContainsRune(`<>:"/\|?*`, r):
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if name == "" || name == "." || name == ".." {
		ext := ".bin"
		switch {
		case strings.HasPrefix(contentType, "text/plain"):
			ext = ".txt"
		case strings.HasPrefix(contentType, "text/html"):
			ext = ".html"
		case strings.HasPrefix(contentType, "image/"):
			ext = "." + strings.TrimPrefix(contentType, "image/")
		case contentType == "application/pdf":
			ext = ".pdf"
		case contentType == "message/rfc822":
			ext = ".eml"
		}
		name = fmt.Sprintf("attachment-%d%s", n, ext)
	}
	if len(name) > 120 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		cut := 120 - len(ext)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + ext
	}
	return name
}
