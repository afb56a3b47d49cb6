package smtpd

import (
	"errors"
	"io"

	"github.com/emersion/go-smtp"
)

// Errors of the strict DATA reader, as the SMTP replies they become.
var (
	errBareLineEnding = &smtp.SMTPError{
		Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Message contains a bare CR or LF; every line must end with CRLF (RFC 5321 section 2.3.8). Nothing was delivered.",
	}
	errHeaderTooLarge = &smtp.SMTPError{
		Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message header block is too large; nothing was delivered",
	}
	errLineTooLong = &smtp.SMTPError{
		Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message has a line that is too long; nothing was delivered",
	}
)

// strictReader passes DATA through while refusing what could smuggle a second
// message past another MTA (bare CR or LF, see mox and the 2023 SMTP smuggling
// reports) and enforcing header and line limits. It also keeps a copy of the
// header block for the session to read Message-ID from.
type strictReader struct {
	r         io.Reader
	prev      byte
	inHeader  bool
	header    []byte
	maxHeader int
	lineLen   int
	maxLine   int
}

func newStrictReader(r io.Reader, maxHeader, maxLine int) *strictReader {
	return &strictReader{r: r, inHeader: true, maxHeader: maxHeader, maxLine: maxLine}
}

func (s *strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	wasHeader, headerEnd := s.inHeader, n
	for i := 0; i < n; i++ {
		c := p[i]
		switch {
		case c == '\n' && s.prev != '\r':
			return 0, errBareLineEnding
		case s.prev == '\r' && c != '\n':
			return 0, errBareLineEnding
		}
		if c == '\n' {
			if s.inHeader && s.lineLen == 1 { // an empty line: "\r\n"
				s.inHeader, headerEnd = false, i+1
			}
			s.lineLen = 0
		} else {
			s.lineLen++
			if s.lineLen > s.maxLine {
				return 0, errLineTooLong
			}
		}
		s.prev = c
	}
	if wasHeader {
		if len(s.header)+headerEnd > s.maxHeader {
			return 0, errHeaderTooLarge
		}
		s.header = append(s.header, p[:headerEnd]...)
	}
	if errors.Is(err, io.EOF) && s.prev != '\n' && s.prev != 0 {
		return n, errBareLineEnding
	}
	return n, err
}

// headerBlock returns the header block including its terminating empty line.
func (s *strictReader) headerBlock() []byte { return s.header }
