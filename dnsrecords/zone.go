package dnsrecords

import (
	"fmt"
	"io"
	"strings"
)

// WriteZone writes the records in zone-file form (RFC 1035 section 5.1),
// ready to paste into a zone: absolute names, TXT text split into quoted
// strings of at most 255 bytes (section 3.3.14), notes as comments, and
// the MTA-STS policy to serve as a comment at the end.
func (s *Set) WriteZone(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "; DNS records for %s, mail host %s (parley dns)\n", s.Domain, s.Host)
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "; NOTE: %s\n", n)
	}
	for _, r := range s.Records {
		fmt.Fprintf(&b, "\n; %s\n", r.Note)
		switch r.Type {
		case "":
			fmt.Fprintf(&b, "; %s.\t%d\tIN\tA\t<IPv4 address>\n; %s.\t%d\tIN\tAAAA\t<IPv6 address>\n", r.Name, TTL, r.Name, TTL)
		case "TXT":
			fmt.Fprintf(&b, "%s.\t%d\tIN\tTXT\t%s\n", r.Name, TTL, quoteTXT(r.Value))
		default:
			fmt.Fprintf(&b, "%s.\t%d\tIN\t%s\t%s\n", r.Name, TTL, r.Type, r.Value)
		}
	}
	if s.Policy != "" {
		fmt.Fprintf(&b, "\n; MTA-STS policy: serve this text as https://mta-sts.%s/.well-known/mta-sts.txt\n", s.Domain)
		b.WriteString("; (parley dns --mta-sts-policy prints it alone); change it, and the _mta-sts id changes too\n")
		for _, l := range strings.Split(strings.TrimRight(s.Policy, "\r\n"), "\r\n") {
			fmt.Fprintf(&b, ";   %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quoteTXT splits text into quoted character-strings of at most 255 bytes.
func quoteTXT(text string) string {
	var parts []string
	for len(text) > 0 {
		n := min(len(text), 255)
		parts = append(parts, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text[:n])+`"`)
		text = text[n:]
	}
	if len(parts) == 0 {
		return `""`
	}
	return strings.Join(parts, " ")
}
