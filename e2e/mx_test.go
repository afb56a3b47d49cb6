package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// mxZone is a DNS server on loopback that names mx.sink.test (127.0.0.1) as
// the mail server of every domain, so direct delivery reaches the sink.
func mxZone(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			var rr string
			switch {
			case q.Qtype == dns.TypeMX:
				rr = q.Name + " 60 IN MX 10 mx.sink.test."
			case q.Qtype == dns.TypeA && strings.EqualFold(q.Name, "mx.sink.test."):
				rr = q.Name + " 60 IN A 127.0.0.1"
			}
			if rr != "" {
				a, _ := dns.NewRR(rr)
				m.Answer = append(m.Answer, a)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDirectDeliveryShownInCase: with delivery = "mx" and the [dns] resolver
// pointing at a test zone, Parley's mail reaches the parties' MX host (the
// sink) and `case show` says which host took it and how.
func TestDirectDeliveryShownInCase(t *testing.T) {
	s := newSink(t)
	s.Start()
	_, port, _ := net.SplitHostPort(s.addr)
	d := newDaemonWithConfig(t, "", fmt.Sprintf("delivery = \"mx\"\nmx_port = %s\n[dns]\nresolver = %q", port, mxZone(t)))
	d.Start()
	d.MustAdmin("trader", "add", "--handle", "acme", "--name", traderName, "--email", traderEmail, "--lang", "nl")
	e := &env{t: t, sink: s, d: d}
	oc := e.openCase("Els Smit", "els@consumer.example")
	c := d.WaitCase(oc.ID, 15*time.Second, "opening mail recorded as sent", func(c *caseDetail) bool {
		return len(c.Outbound) == 2 && allState(c, "sent")
	})
	via := "via mx.sink.test [127.0.0.1:" + port + "], "
	for _, o := range c.Outbound {
		if !strings.HasPrefix("via "+o.Via, via) {
			t.Errorf("outbound %d via %q, want %q...", o.ID, o.Via, via)
		}
	}
	out := string(d.MustAdmin("case", "show", oc.ID))
	if strings.Count(out, via) != 2 {
		t.Errorf("case show does not say where the two messages went:\n%s", out)
	}
}
