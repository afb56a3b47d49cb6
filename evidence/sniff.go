package evidence

import (
	"bytes"
	"net/http"
	"strings"
)

// Sniff returns the content type of data from its bytes, never its name:
// Go's content sniffing (the WHATWG algorithm) plus the executable and script
// formats it does not know.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("MZ")):
		return "application/x-msdownload" // Windows PE/DOS executable
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return "application/x-executable"
	case bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(data, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(data, []byte{0xce, 0xfa, 0xed, 0xfe}):
		return "application/x-mach-binary"
	case bytes.HasPrefix(data, []byte("#!")):
		return "text/x-shellscript"
	case bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return "application/x-ole-storage" // legacy Office, MSI: may carry macros
	}
	t := http.DetectContentType(data)
	if i := strings.IndexByte(t, ';'); i > 0 {
		t = t[:i]
	}
	if t == "text/plain" && looksLikeScript(data) {
		return "text/x-script"
	}
	return t
}

// looksLikeScript catches Windows script and batch files that sniff as text.
func looksLikeScript(data []byte) bool {
	head := strings.ToLower(string(data[:min(len(data), 512)]))
	for _, marker := range []string{"@echo off", "wscript.", "createobject(", "powershell", "<job", "<script"} {
		if strings.Contains(head, marker) {
			return true
		}
	}
	return false
}

// Executable reports whether a sniffed type can run code when opened, so
// relays hold it back (the mediator still sees it in the IMAP mailbox).
func Executable(sniffed string) bool {
	switch sniffed {
	case "application/x-msdownload", "application/x-executable", "application/x-mach-binary",
		"text/x-shellscript", "text/x-script", "application/x-ole-storage", "application/javascript", "text/javascript":
		return true
	}
	return false
}
