package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseFixtures(t *testing.T) {
	p := NewParser()
	cases := map[string]struct {
		text        string
		attachments int
		malformed   bool
	}{
		"plain.eml":           {text: "arrived broken", attachments: 0},
		"attachment.eml":      {text: "see photo", attachments: 1},
		"latin1.eml":          {text: "Händler", attachments: 0},
		"html-only.eml":       {text: "Order 1234 is", attachments: 0},
		"broken-boundary.eml": {text: "refund", malformed: true},
		"rfc2231-name.eml":    {text: "invoice attached", attachments: 1},
	}
	for name, want := range cases {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		m := p.Parse(raw)
		if !strings.Contains(m.Text, want.text) {
			t.Errorf("%s: text %q lacks %q", name, m.Text, want.text)
		}
		if len(m.Attachments) != want.attachments {
			t.Errorf("%s: %d attachments, want %d", name, len(m.Attachments), want.attachments)
		}
		if m.Malformed() != want.malformed {
			t.Errorf("%s: malformed=%v (%v)", name, m.Malformed(), m.Problems)
		}
		for _, a := range m.Attachments {
			if a.Name == "" || strings.ContainsAny(a.Name, "/\\") || len(a.SHA256) != 64 {
				t.Errorf("%s: attachment %+v", name, a)
			}
		}
	}
}

func TestRFC2231NameDecoded(t *testing.T) {
	raw, _ := os.ReadFile("testdata/rfc2231-name.eml")
	m := NewParser().Parse(raw)
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "Rechnung März.pdf" {
		t.Fatalf("name %+v", m.Attachments)
	}
	if m.Attachments[0].Sniffed != "application/pdf" {
		t.Errorf("sniffed %q", m.Attachments[0].Sniffed)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":     "passwd",
		`C:\Users\x\photo.jpg`: "photo.jpg",
		"a\x00b\u202ec.exe":    "abc.exe",
		"":                     "attachment-3.pdf",
		"...":                  "attachment-3.pdf",
		"what?.txt":            "what_.txt",
	} {
		if got := SanitizeName(in, 3, "application/pdf"); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	long := SanitizeName(strings.Repeat("é", 200)+".pdf", 1, "")
	if len(long) > 120 || !strings.HasSuffix(long, ".pdf") || !utf8.ValidString(long) {
		t.Errorf("long name %q", long)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := p.Parse(raw)
		for _, a := range m.Attachments {
			if a.Name == "" || strings.ContainsAny(a.Name, "/\\\x00") {
				t.Fatalf("unsafe attachment name %q", a.Name)
			}
		}
		_ = AutoReply(m, "x@y")
	})
}

func TestUndeclaredUTF8IsNotLatin1(t *testing.T) {
	raw := []byte("From: jan@example.org\r\nSubject: x\r\n\r\nHändler: info@laden.example\r\nDer Wasserkocher ist kaputt.\r\n")
	if m := NewParser().Parse(raw); !strings.Contains(m.Text, "Händler:") {
		t.Fatalf("text %q", m.Text)
	}
	latin1 := []byte("From: jan@example.org\r\nSubject: x\r\n\r\nDer H\xe4ndler antwortet nicht auf meine E-Mails, ich m\xf6chte mein Geld zur\xfcck.\r\n")
	if m := NewParser().Parse(latin1); !strings.Contains(m.Text, "Händler") {
		t.Fatalf("undeclared Latin-1 not recovered: %q", m.Text)
	}
}

// A small message nested thousands deep is not fed to the MIME parser, whose
// cost grows with the square of the depth; it is kept and read as text.
func TestDeepNestingIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: deep\r\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nrefund please\r\n")
	m := NewParser().Parse([]byte(b.String()))
	if !m.Malformed() || !strings.Contains(m.Problems[0], "multipart") || !strings.Contains(m.Text, "refund please") {
		t.Fatalf("problems %v, text %d bytes", m.Problems, len(m.Text))
	}
}
