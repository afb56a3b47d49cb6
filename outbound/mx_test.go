package outbound

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"parley/casestore"
)

// mxConfig delivers by MX through the zone, to the sink's port.
func mxConfig(z *zone, s *sink) Config {
	cfg := baseConfig("")
	cfg.Delivery, cfg.Resolver = "mx", z.resolver()
	_, cfg.MXPort, _ = net.SplitHostPort(s.addr)
	return cfg
}

func (e *qenv) events(t *testing.T) []casestore.Event {
	t.Helper()
	var evs []casestore.Event
	if err := e.store.View(func(tx *casestore.Tx) (err error) { evs, err = tx.Events("ABC-DEFG"); return err }); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestMXDeliveryInClearWhenNoSTARTTLS(t *testing.T) {
	s := startSinkTLS(t, nil)
	z := startZone(t,
		"dest.test. 300 IN MX 10 mx1.dest.test.",
		"mx1.dest.test. 300 IN A 127.0.0.1")
	e := startQueue(t, t.TempDir(), mxConfig(z, s), nil)
	o := e.waitState(t, e.addTo(t, "shop@dest.test")[0], casestore.OutSent)
	if s.count() != 1 || s.rcpts[0] != "shop@dest.test" {
		t.Fatalf("sink got %d messages, rcpts %v", s.count(), s.rcpts)
	}
	if !strings.HasPrefix(o.Via, "mx1.dest.test [127.0.0.1:") || !strings.Contains(o.Via, "no TLS") || !strings.Contains(o.Via, ": 250 ") {
		t.Errorf("via %q: want the MX host, its address, no TLS and the reply", o.Via)
	}
	evs := e.events(t)
	if len(evs) != 1 || evs[0].Kind != casestore.EvDelivered || evs[0].Text != "via "+o.Via {
		t.Errorf("case events %+v: want delivered via the MX host", evs)
	}
}

func TestMXImplicitFromAddressRecordWithOpportunisticTLS(t *testing.T) {
	s := startSink(t, true) // self-signed: encrypts, does not verify
	z := startZone(t, "dest.test. 300 IN A 127.0.0.1")
	e := startQueue(t, t.TempDir(), mxConfig(z, s), nil)
	o := e.waitState(t, e.addTo(t, "shop@dest.test")[0], casestore.OutSent)
	if !strings.HasPrefix(o.Via, "dest.test [127.0.0.1:") || !strings.Contains(o.Via, "TLS 1.3, certificate not verified") {
		t.Errorf("via %q: want the domain itself as implicit MX, over unverified TLS", o.Via)
	}
}

func TestNullMXAndNoDomainFailAtOnce(t *testing.T) {
	s := startSink(t, false)
	z := startZone(t,
		"dest.test. 300 IN MX 0 .",
		"dest.test. 300 IN A 127.0.0.1") // ignored: the null MX says no mail
	e := startQueue(t, t.TempDir(), mxConfig(z, s), nil)
	ids := e.addTo(t, "shop@dest.test", "shop@nowhere.test")
	null := e.waitState(t, ids[0], casestore.OutFailed)
	if null.Attempts != 1 || !strings.Contains(null.LastError, "null MX") {
		t.Errorf("null MX row %+v: want failed at the first attempt, saying null MX", null)
	}
	gone := e.waitState(t, ids[1], casestore.OutFailed)
	if gone.Attempts != 1 || !strings.Contains(gone.LastError, "no MX and no address") {
		t.Errorf("nonexistent domain row %+v", gone)
	}
	if s.conns.Load() != 0 {
		t.Errorf("%d connections: nothing should have been tried", s.conns.Load())
	}
	if evs := e.events(t); len(evs) != 2 || evs[0].Kind != casestore.EvDeliveryFail || evs[1].Kind != casestore.EvDeliveryFail {
		t.Errorf("case events %+v", evs)
	}
}

// twoMXRefusingFirstMail delivers to dest.test, whose MX hosts mx1 (10) and
// mx2 (20) are one sink that answers the first MAIL, necessarily mx1's, with reply.
func twoMXRefusingFirstMail(t *testing.T, reply *smtp.SMTPError) (*sink, *qenv) {
	s := startSink(t, true) // with STARTTLS: one connection per attempt
	s.reply = reply
	s.refuseMail.Store(1)
	z := startZone(t,
		"dest.test. 300 IN MX 20 mx2.dest.test.", // listed first: the order is the preference's
		"dest.test. 300 IN MX 10 mx1.dest.test.",
		"mx1.dest.test. 300 IN A 127.0.0.1",
		"mx2.dest.test. 300 IN A 127.0.0.1")
	return s, startQueue(t, t.TempDir(), mxConfig(z, s), nil)
}

func TestMXLookupFailureIsTemporary(t *testing.T) {
	s := startSink(t, false)
	z := startZone(t, "dest.test. 300 IN MX 10 mx1.dest.test.", "mx1.dest.test. 300 IN A 127.0.0.1")
	z.failName("dest.test.")
	e := startQueue(t, t.TempDir(), mxConfig(z, s), nil)
	id := e.addTo(t, "shop@dest.test")[0]
	deadline := time.Now().Add(10 * time.Second)
	for e.row(t, id).Attempts < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if o := e.row(t, id); o.State != casestore.OutQueued || !strings.Contains(o.LastError, "MX lookup for dest.test") {
		t.Fatalf("row %+v: a failing DNS server must defer, not fail", o)
	}
	z.failName("")
	e.waitState(t, id, casestore.OutSent)
}

func TestSecondMXWhenFirstRefusesTemporarily(t *testing.T) {
	s, e := twoMXRefusingFirstMail(t, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "not now"})
	o := e.waitState(t, e.addTo(t, "shop@dest.test")[0], casestore.OutSent)
	if o.Attempts != 1 || !strings.HasPrefix(o.Via, "mx2.dest.test ") {
		t.Errorf("row %+v: want delivered at the first attempt by mx2 after mx1's 451", o)
	}
	if s.conns.Load() != 2 {
		t.Errorf("%d connections, want 2", s.conns.Load())
	}
}

func TestSilentMXHostLeavesTimeForTheNext(t *testing.T) {
	s := startSink(t, true)
	s.silent.Store(1) // mx1 takes the connection and never greets
	z := startZone(t,
		"dest.test. 300 IN MX 10 mx1.dest.test.",
		"dest.test. 300 IN MX 20 mx2.dest.test.",
		"mx1.dest.test. 300 IN A 127.0.0.1",
		"mx2.dest.test. 300 IN A 127.0.0.1")
	cfg := mxConfig(z, s)
	cfg.Timeout = 2 * time.Second // a quarter of it for mx1's greeting
	e := startQueue(t, t.TempDir(), cfg, nil)
	o := e.waitState(t, e.addTo(t, "shop@dest.test")[0], casestore.OutSent)
	if o.Attempts != 1 || !strings.HasPrefix(o.Via, "mx2.dest.test ") {
		t.Errorf("row %+v: want delivered by mx2 in the attempt mx1 stalled", o)
	}
}

func TestPermanentRefusalByMXFailsAtOnce(t *testing.T) {
	s, e := twoMXRefusingFirstMail(t, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	o := e.waitState(t, e.addTo(t, "shop@dest.test")[0], casestore.OutFailed)
	if o.Attempts != 1 || !strings.Contains(o.LastError, "mx1.dest.test") || !strings.Contains(o.LastError, "no such user") {
		t.Errorf("row %+v: want failed by mx1's 550", o)
	}
	if s.conns.Load() != 1 {
		t.Errorf("%d connections: a 5xx must not be retried at the next MX", s.conns.Load())
	}
}

const stsRecord = `_mta-sts.dest.test. 300 IN TXT "v=STSv1; id=20261202T1"`

func stsZone(t *testing.T, extra ...string) *zone {
	return startZone(t, append([]string{
		"dest.test. 300 IN MX 5 rogue.elsewhere.test.",
		"dest.test. 300 IN MX 10 mx.dest.test.",
		"rogue.elsewhere.test. 300 IN A 127.0.0.1",
		"mx.dest.test. 300 IN A 127.0.0.1",
		"mta-sts.dest.test. 300 IN A 127.0.0.1",
		stsRecord}, extra...)...)
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.dest.test\r\nmx: *.backup.test\r\nmax_age: 86400\r\n"

func TestMTASTSEnforceDeliversOverVerifiedTLSToListedHostsOnly(t *testing.T) {
	ca := newTestCA(t)
	s := startSinkTLS(t, ca.issue(t, "mx.dest.test"))
	pol := startPolicyServer(t, ca, "dest.test", enforcePolicy)
	z := stsZone(t)
	dir := t.TempDir()
	e := startQueue(t, dir, mxConfig(z, s), nil, WithRootCAs(ca.pool), WithPolicyPort(pol.port))
	ids := e.addTo(t, "a@dest.test")
	o := e.waitState(t, ids[0], casestore.OutSent)
	if !strings.HasPrefix(o.Via, "mx.dest.test ") || !strings.Contains(o.Via, "certificate verified, MTA-STS enforce") {
		t.Errorf("via %q: want mx.dest.test over verified TLS under the enforced policy", o.Via)
	}
	if s.conns.Load() != 1 {
		t.Errorf("%d connections: the MX host the policy does not list (preferred in DNS) must not be contacted; via %q", s.conns.Load(), o.Via)
	}
	// The cached policy serves the next message while the id is unchanged,
	// and survives a restart in the data folder.
	e.waitState(t, e.addTo(t, "b@dest.test")[0], casestore.OutSent)
	e.close()
	e = startQueue(t, dir, mxConfig(z, s), nil, WithRootCAs(ca.pool), WithPolicyPort(pol.port))
	e.waitState(t, e.addTo(t, "c@dest.test")[0], casestore.OutSent)
	if n := pol.fetches.Load(); n != 1 {
		t.Errorf("policy fetched %d times for one id, want 1", n)
	}
	st, err := os.Stat(filepath.Join(dir, "mta-sts", "dest.test.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("policy cache file: %v %v", err, st)
	}
	// A new id makes the policy be fetched again.
	z.set(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1",
		"mta-sts.dest.test. 300 IN A 127.0.0.1", `_mta-sts.dest.test. 300 IN TXT "v=STSv1; id=20261203"`)
	e.waitState(t, e.addTo(t, "d@dest.test")[0], casestore.OutSent)
	if n := pol.fetches.Load(); n != 2 {
		t.Errorf("policy fetched %d times after the id changed, want 2", n)
	}
}

func TestMTASTSEnforceRefusesCertificateForAnotherName(t *testing.T) {
	ca := newTestCA(t)
	s := startSinkTLS(t, ca.issue(t, "other.test")) // trusted CA, wrong name
	pol := startPolicyServer(t, ca, "dest.test", enforcePolicy)
	clk := &clock{}
	e := startQueue(t, t.TempDir(), mxConfig(stsZone(t), s), clk, WithRootCAs(ca.pool), WithPolicyPort(pol.port))
	id := e.addTo(t, "a@dest.test")[0]
	deadline := time.Now().Add(10 * time.Second)
	for e.row(t, id).Attempts < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	o := e.row(t, id)
	if o.State != casestore.OutQueued || !strings.Contains(o.LastError, "MTA-STS") || !strings.Contains(o.LastError, "certificate") {
		t.Fatalf("row %+v: a certificate not valid for the MX name must defer delivery under enforce (RFC 8461 section 5.1)", o)
	}
	if s.count() != 0 {
		t.Fatal("delivered despite the policy")
	}
	clk.Add(5*24*time.Hour + time.Minute)
	o = e.waitState(t, id, casestore.OutFailed)
	if !strings.Contains(o.LastError, "gave up") || !strings.Contains(o.LastError, "MTA-STS") {
		t.Errorf("last error %q", o.LastError)
	}
}

func TestMTASTSTestingDeliversDespiteBadCertificate(t *testing.T) {
	ca := newTestCA(t)
	s := startSinkTLS(t, ca.issue(t, "other.test"))
	pol := startPolicyServer(t, ca, "dest.test", strings.Replace(enforcePolicy, "enforce", "testing", 1))
	e := startQueue(t, t.TempDir(), mxConfig(stsZone(t), s), nil, WithRootCAs(ca.pool), WithPolicyPort(pol.port))
	o := e.waitState(t, e.addTo(t, "a@dest.test")[0], casestore.OutSent)
	if !strings.Contains(o.Via, "certificate not verified, MTA-STS testing") {
		t.Errorf("via %q", o.Via)
	}
}

func TestMXDomainConcurrencyLimit(t *testing.T) {
	s := startSink(t, false)
	s.hold = 30 * time.Millisecond
	z := startZone(t, "dest.test. 300 IN MX 10 mx1.dest.test.", "mx1.dest.test. 300 IN A 127.0.0.1")
	cfg := mxConfig(z, s)
	cfg.Concurrency, cfg.DomainConcurrency = 4, 1
	e := startQueue(t, t.TempDir(), cfg, nil)
	ids := e.addTo(t, "a@dest.test", "b@dest.test", "c@dest.test", "d@dest.test", "e@dest.test")
	for _, id := range ids {
		if o := e.waitState(t, id, casestore.OutSent); o.Attempts != 1 {
			t.Errorf("row %d: %d attempts; waiting for the domain is not an attempt", id, o.Attempts)
		}
	}
	if m := s.maxActive.Load(); m != 1 {
		t.Errorf("%d sessions at once with the domain, limit 1", m)
	}
}

func TestMXDestinationBackoffSharedByTheDomainsMessages(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := &sink{addr: l.Addr().String()}
	l.Close() // connection refused
	z := startZone(t, "dest.test. 300 IN MX 10 mx1.dest.test.", "mx1.dest.test. 300 IN A 127.0.0.1")
	cfg := mxConfig(z, dead)
	cfg.Concurrency, cfg.DomainConcurrency, cfg.MinBackoff, cfg.MaxBackoff = 3, 1, time.Hour, time.Hour
	e := startQueue(t, t.TempDir(), cfg, nil)
	ids := e.addTo(t, "a@dest.test", "b@dest.test", "c@dest.test")
	// Settled: all three rows wait on the heap for the backoff's end.
	deadline := time.Now().Add(10 * time.Second)
	for !e.allDueAfter(ids, e.clock.Now().Add(30*time.Minute)) {
		if time.Now().After(deadline) {
			t.Fatal("rows never all deferred")
		}
		time.Sleep(5 * time.Millisecond)
	}
	attempts := 0
	for _, id := range ids {
		attempts += e.row(t, id).Attempts
	}
	if attempts != 1 {
		t.Errorf("%d attempts at a dead destination; want 1, the others waiting out its backoff", attempts)
	}
}

// allDueAfter reports whether every id is on the heap, due after at.
func (e *qenv) allDueAfter(ids []uint64, at time.Time) bool {
	e.q.mu.Lock()
	defer e.q.mu.Unlock()
	due := map[uint64]bool{}
	for _, d := range e.q.due {
		if d.at.After(at) {
			due[d.id] = true
		}
	}
	for _, id := range ids {
		if !due[id] {
			return false
		}
	}
	return true
}
