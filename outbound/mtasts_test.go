package outbound

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSTSRecord(t *testing.T) {
	for _, c := range []struct {
		txts []string
		id   string
	}{
		{[]string{"v=STSv1; id=abc123"}, "abc123"},
		{[]string{"v=spf1 -all", "v=STSv1;id=X1;"}, "X1"},
		{[]string{"v=STSv1; id=a", "v=STSv1; id=b"}, ""}, // two: no policy
		{[]string{"v=STSv1;"}, ""},
		{[]string{"v=STSv1; id=has-dash"}, ""},
		{[]string{"v=STSv1; id=" + strings.Repeat("a", 33)}, ""},
		{nil, ""},
	} {
		id, err := parseSTSRecord(c.txts)
		if id != c.id || (err == nil) != (c.id != "") {
			t.Errorf("%q: id %q err %v, want %q", c.txts, id, err, c.id)
		}
	}
}

func TestSTSPolicyParse(t *testing.T) {
	p, err := parseSTSPolicy("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 99999999\n")
	if err != nil || p.Mode != stsEnforce || len(p.MX) != 2 || p.MaxAge != stsMaxAge {
		t.Fatalf("%+v %v: want enforce, two mx, max_age capped", p, err)
	}
	for host, want := range map[string]bool{"mail.example.com": true, "MAIL.example.com.": true, "a.example.net": true,
		"example.net": false, "a.b.example.net": false, "other.example.com": false} {
		if p.allows(host) != want {
			t.Errorf("allows(%q) = %v", host, !want)
		}
	}
	for _, bad := range []string{
		"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5\n",
		"<html>not a policy</html>",
	} {
		if _, err := parseSTSPolicy(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if p, err := parseSTSPolicy("version: STSv1\r\nmode: none\r\nmax_age: 10\r\n"); err != nil || usable(p) != nil {
		t.Errorf("mode none: %+v %v, want parsed and not applied", p, err)
	}
}

// TestSTSFetchLimits serves broken policies over real HTTPS: each must be
// refused, so that mail goes as if the domain had no policy.
func TestSTSFetchLimits(t *testing.T) {
	ca := newTestCA(t)
	good := "version: STSv1\nmode: enforce\nmx: mx.dest.test\nmax_age: 600\n"
	cases := map[string]http.HandlerFunc{
		"good": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, good)
		},
		"too large": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, good+strings.Repeat("mx: pad.test\n", stsMaxPolicy/13+1)) // valid, only too long
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://mta-sts.dest.test/other", http.StatusFound)
		},
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, good)
		},
	}
	for name, h := range cases {
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = ca.issue(t, "mta-sts.dest.test")
		srv.StartTLS()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		z := startZone(t, "mta-sts.dest.test. 60 IN A 127.0.0.1")
		s := newSTSPolicies(t.TempDir(), z.resolver(), ca.pool, port, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
		p, err := s.fetch(context.Background(), "dest.test")
		if name == "good" {
			if err != nil || p.Mode != stsEnforce {
				t.Errorf("good policy: %+v %v", p, err)
			}
		} else if err == nil {
			t.Errorf("%s: accepted %+v", name, p)
		}
		srv.Close()
	}
	// An untrusted certificate on the policy host is a failed fetch.
	srv := httptest.NewTLSServer(cases["good"])
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	z := startZone(t, "mta-sts.dest.test. 60 IN A 127.0.0.1")
	s := newSTSPolicies(t.TempDir(), z.resolver(), ca.pool, port, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := s.fetch(context.Background(), "dest.test"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("policy over an untrusted certificate: %v", err)
	}
}

func TestDestinationsLimitAndBackoff(t *testing.T) {
	d := newDestinations(2)
	now := time.Unix(1e9, 0)
	hour := func(int) time.Duration { return time.Hour }
	for id := uint64(1); id <= 2; id++ {
		if ok, _ := d.acquire("a.test", id, now); !ok {
			t.Fatalf("row %d refused below the limit", id)
		}
	}
	if ok, at := d.acquire("a.test", 3, now); ok || !at.IsZero() {
		t.Fatal("third session allowed, or not told to wait")
	}
	if ok, _ := d.acquire("b.test", 4, now); !ok {
		t.Fatal("another domain is not limited by a.test")
	}
	if woken := d.release("a.test", false, now, hour); len(woken) != 1 || woken[0] != 3 {
		t.Fatalf("woken %v, want [3]", woken)
	}
	d.release("a.test", true, now, hour) // destination failure
	if ok, at := d.acquire("a.test", 5, now.Add(time.Minute)); ok || !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("during backoff: ok %v at %v", ok, at)
	}
	if ok, _ := d.acquire("a.test", 5, now.Add(time.Hour)); !ok {
		t.Fatal("refused after the backoff")
	}
	d.release("a.test", false, now.Add(time.Hour), hour)
	d.release("b.test", false, now, hour)
	if len(d.m) != 0 {
		t.Errorf("%d domains remembered with nothing to remember", len(d.m))
	}
}

// TestSTSPolicyCache: a policy is fetched once per id, outlives its TXT
// record until max_age, and is fetched again when the id changes (RFC 8461
// section 5.1).
func TestSTSPolicyCache(t *testing.T) {
	ca := newTestCA(t)
	srv := startPolicyServer(t, ca, "dest.test", "version: STSv1\nmode: enforce\nmx: mx.dest.test\nmax_age: 3600\n")
	records := []string{"mta-sts.dest.test. 60 IN A 127.0.0.1", `_mta-sts.dest.test. 60 IN TXT "v=STSv1; id=one"`}
	z := startZone(t, records...)
	clk := &clock{}
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newSTSPolicies(dir, z.resolver(), ca.pool, srv.port, clk.Now, log)
	ctx := context.Background()
	mode := func(s *stsPolicies) string {
		if p := s.policy(ctx, "dest.test"); p != nil {
			return p.Mode
		}
		return "no policy"
	}
	if m := mode(s); m != stsEnforce {
		t.Fatalf("first lookup: %s", m)
	}
	z.set(t, records[0]) // the TXT record goes away: the cached policy stays in force
	if m := mode(s); m != stsEnforce || srv.fetches.Load() != 1 {
		t.Fatalf("without the TXT record: %s after %d fetches, want the cached policy", m, srv.fetches.Load())
	}
	// A new process reads the cache from the folder.
	if m := mode(newSTSPolicies(dir, z.resolver(), ca.pool, srv.port, clk.Now, log)); m != stsEnforce {
		t.Fatalf("after a restart: %s", m)
	}
	clk.Add(time.Hour)
	if m := mode(s); m != "no policy" {
		t.Fatalf("past max_age with no record: %s", m)
	}
	z.set(t, records[0], `_mta-sts.dest.test. 60 IN TXT "v=STSv1; id=two"`)
	srv.mu.Lock()
	srv.text = "version: STSv1\nmode: testing\nmx: mx.dest.test\nmax_age: 3600\n"
	srv.mu.Unlock()
	if m := mode(s); m != stsTesting || srv.fetches.Load() != 2 {
		t.Fatalf("new id: %s after %d fetches, want testing fetched again", m, srv.fetches.Load())
	}
}

// TestSTSFailedFetchNotRepeated: a policy host that fails is not asked
// again for every message, only after stsRetryFetch.
func TestSTSFailedFetchNotRepeated(t *testing.T) {
	ca := newTestCA(t)
	srv := startPolicyServer(t, ca, "dest.test", "not a policy")
	z := startZone(t, "mta-sts.dest.test. 60 IN A 127.0.0.1", `_mta-sts.dest.test. 60 IN TXT "v=STSv1; id=one"`)
	clk := &clock{}
	s := newSTSPolicies(t.TempDir(), z.resolver(), ca.pool, srv.port, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := 0; i < 3; i++ {
		if p := s.policy(context.Background(), "dest.test"); p != nil {
			t.Fatalf("a broken policy applied: %+v", p)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within %s, want 1", n, stsRetryFetch)
	}
	clk.Add(stsRetryFetch)
	s.policy(context.Background(), "dest.test")
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after %s, want 2", n, stsRetryFetch)
	}
}
