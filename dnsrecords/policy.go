package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// maxPolicy bounds the policy file read (RFC 8461 section 3.2: 64 KiB).
const maxPolicy = 64 << 10

// checkPolicy fetches the MTA-STS policy as a sender does (RFC 8461 section
// 3.3: HTTPS with a certificate valid for mta-sts.DOMAIN, no redirects,
// text/plain) and compares it with the one wanted.
func checkPolicy(ctx context.Context, web *http.Client, rec Record) Verdict {
	v := Verdict{Record: rec}
	c := *web
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	url := "https://" + rec.Name + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		v.Status, v.Found = Error, err.Error()
		return v
	}
	resp, err := c.Do(req)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		v.Status = Missing
		return v
	case err != nil:
		v.Status, v.Found = Error, err.Error()
		return v
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicy+1))
	switch ct := resp.Header.Get("Content-Type"); {
	case resp.StatusCode == http.StatusNotFound:
		v.Status = Missing
	case resp.StatusCode != http.StatusOK:
		v.Status, v.Found = Differs, fmt.Sprintf("%s answers %s (senders follow no redirect)", url, resp.Status)
	case err != nil:
		v.Status, v.Found = Error, fmt.Sprintf("%s: %v", url, err)
	case len(body) > maxPolicy:
		v.Status, v.Found = Differs, url+" is over 64 KiB"
	case !strings.HasPrefix(strings.ToLower(ct), "text/plain"):
		v.Status, v.Found = Differs, fmt.Sprintf("%s is served as %q, want text/plain", url, ct)
	case !policyMatches(rec.Value, string(body)):
		v.Status, v.Found = Differs, shorten(strings.Join(strings.Fields(string(body)), " "))
	default:
		v.Status, v.Found = OK, url
	}
	return v
}

// policyMatches compares two policies field by field: version, mode and
// max_age equal, every mx wanted listed (more are fine).
func policyMatches(want, found string) bool {
	w, f := policyFields(want), policyFields(found)
	for _, k := range []string{"version", "mode", "max_age"} {
		if strings.Join(w[k], " ") != strings.Join(f[k], " ") {
			return false
		}
	}
	for _, mx := range w["mx"] {
		if !strings.Contains(" "+strings.Join(f["mx"], " ")+" ", " "+mx+" ") {
			return false
		}
	}
	return true
}

// policyFields reads "key: value" lines (RFC 8461 section 3.2; LF or CRLF).
func policyFields(text string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			k = strings.ToLower(strings.TrimSpace(k))
			m[k] = append(m[k], strings.ToLower(strings.TrimSpace(v)))
		}
	}
	return m
}
