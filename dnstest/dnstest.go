// Package dnstest serves DNS zones on loopback for tests: a real DNS server
// (github.com/miekg/dns) answering over UDP and TCP on one 127.0.0.1 port
// from records written in zone-file form (RFC 1035 section 5), so code under
// test resolves through its configured resolver exactly as in production.
// Only tests import it.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers authoritatively from its records: the matching records,
// NODATA when the name has others, NXDOMAIN when it has none.
type Server struct {
	// Addr is host:port, for a resolver setting ([dns] resolver).
	Addr string
	mu   sync.Mutex
	rrs  []dns.RR
}

// Serve starts a server with the records of zone (names absolute, or
// relative to the root) and stops it when the test ends.
func Serve(t testing.TB, zone string) *Server {
	t.Helper()
	s := &Server{}
	if err := s.Set(zone); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatalf("dnstest: TCP on the UDP port %s: %v", pc.LocalAddr(), err)
	}
	s.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: l, Handler: s}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

// Set replaces the records with those of zone.
func (s *Server) Set(zone string) error {
	var rrs []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	s.mu.Lock()
	s.rrs = rrs
	s.mu.Unlock()
	return nil
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		known := false
		s.mu.Lock()
		for _, rr := range s.rrs {
			if !strings.EqualFold(rr.Header().Name, q.Name) {
				continue
			}
			known = true
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		s.mu.Unlock()
		if !known {
			m.Rcode = dns.RcodeNameError
		}
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

var _ dns.Handler = (*Server)(nil)
