package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
)

// Resolver is the part of *net.Resolver the check uses.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Status is a record's verdict.
type Status string

const (
	OK      Status = "ok"
	Missing Status = "missing"
	Differs Status = "differs"
	Error   Status = "error" // the lookup failed: the answer is unknown
)

// Verdict is what the resolver answered for one record.
type Verdict struct {
	Record Record
	Status Status
	Found  string // what was found, for ok and differs; the error for Error
}

// Check looks every record up with r, fetches the MTA-STS policy with web
// (whose dialer should use r too), and compares what it finds.
func (s *Set) Check(ctx context.Context, r Resolver, web *http.Client) []Verdict {
	out := make([]Verdict, 0, len(s.Records))
	for _, rec := range s.Records {
		if rec.Kind == KindMTASTSPolicy {
			out = append(out, checkPolicy(ctx, web, rec))
			continue
		}
		out = append(out, checkOne(ctx, r, rec))
	}
	return out
}

// Failed reports whether a verdict makes the check fail: a required record
// missing, any record differing, or a lookup that failed.
func Failed(vs []Verdict) bool {
	for _, v := range vs {
		if v.Status == Differs || v.Status == Error || v.Status == Missing && v.Record.Required {
			return true
		}
	}
	return false
}

// versions are the tag that marks each TXT kind among a name's TXT records.
var versions = map[string]string{KindSPF: "v=spf1", KindDMARC: "v=DMARC1", KindMTASTS: "v=STSv1", KindTLSRPT: "v=TLSRPTv1"}

func checkOne(ctx context.Context, r Resolver, rec Record) Verdict {
	v := Verdict{Record: rec}
	lookupFailed := func(err error) Verdict {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			v.Status = Missing
		} else {
			v.Status, v.Found = Error, err.Error()
		}
		return v
	}
	switch rec.Kind {
	case KindMX:
		mxs, err := r.LookupMX(ctx, rec.Name)
		if err != nil {
			return lookupFailed(err)
		}
		_, want, _ := strings.Cut(rec.Value, " ")
		var found []string
		v.Status = Differs
		for _, mx := range mxs {
			found = append(found, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
			if canon(mx.Host) == canon(want) {
				v.Status = OK
			}
		}
		v.Found = strings.Join(found, ", ")
		if len(mxs) == 0 {
			v.Status = Missing
		}
		return v
	case KindAddress:
		addrs, err := r.LookupHost(ctx, rec.Name)
		if err != nil {
			return lookupFailed(err)
		}
		v.Status, v.Found = OK, strings.Join(addrs, ", ")
		return v
	}
	txts, err := r.LookupTXT(ctx, rec.Name)
	if err != nil {
		return lookupFailed(err)
	}
	var mine []string
	for _, t := range txts {
		if rec.Kind == KindDKIM || hasVersion(t, versions[rec.Kind]) {
			mine = append(mine, t)
		}
	}
	switch {
	case len(mine) == 0:
		v.Status = Missing
	case len(mine) > 1 && rec.Kind != KindDKIM:
		// RFC 7208 4.5, RFC 7489 6.6.3, RFC 8461 3.1, RFC 8460 3: more than one is as none.
		v.Status, v.Found = Differs, fmt.Sprintf("%d records, where receivers use only one and ignore all when there are more: %s", len(mine), shorten(strings.Join(mine, " | ")))
	default:
		v.Status, v.Found = Differs, shorten(strings.Join(mine, " | "))
		for _, t := range mine {
			if matches(rec.Kind, rec.Value, t) {
				v.Status, v.Found = OK, shorten(t)
			}
		}
	}
	return v
}

func hasVersion(txt, version string) bool {
	return len(txt) >= len(version) && strings.EqualFold(txt[:len(version)], version) &&
		(len(txt) == len(version) || txt[len(version)] == ' ' || txt[len(version)] == ';')
}

// matches compares a found TXT record with the one wanted: for SPF every
// mechanism wanted must be there (more, such as a smarthost's include, is
// fine; -all as good as ~all); for tag lists every tag wanted must be there
// with its value (more tags are fine).
func matches(kind, want, found string) bool {
	if kind == KindSPF {
		have := map[string]bool{}
		for _, t := range strings.Fields(strings.ToLower(found)) {
			have[t] = true
		}
		for _, t := range strings.Fields(strings.ToLower(want)) {
			if !have[t] && !(t == "~all" && have["-all"]) {
				return false
			}
		}
		return true
	}
	have := tags(found)
	for k, v := range tags(want) {
		if have[k] != v {
			return false
		}
	}
	return true
}

// tags parses a tag=value list (RFC 6376 3.2), values without white space
// and, but for the key data, in lower case.
func tags(s string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.Join(strings.Fields(v), "")
		if k != "p" || strings.EqualFold(v, "none") || strings.EqualFold(v, "quarantine") || strings.EqualFold(v, "reject") {
			v = strings.ToLower(v)
		}
		m[k] = v
	}
	return m
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// WriteVerdicts writes one line per record: status, kind, name, and what
// was found or is wanted.
func WriteVerdicts(w io.Writer, vs []Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range vs {
		detail := v.Found
		switch v.Status {
		case Missing:
			detail = "want: " + want(v.Record)
			if !v.Record.Required {
				detail += " (recommended)"
			}
		case Differs:
			detail = "found: " + v.Found + "; want: " + want(v.Record)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Status, v.Record.Kind, v.Record.Name, detail)
	}
	return tw.Flush()
}

func want(r Record) string {
	switch {
	case r.Kind == KindMTASTSPolicy:
		return "the policy `parley dns` prints, at https://" + r.Name + "/.well-known/mta-sts.txt"
	case r.Type == "":
		return "A or AAAA records"
	}
	return shorten(r.Value)
}
