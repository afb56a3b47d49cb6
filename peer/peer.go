// Package peer names the remote end of a connection the way Parley's
// listeners (smtpd, imapd) count and log it: one key per host (an IPv4
// address, or the /64 an IPv6 host usually owns, RFC 4291 section 2.5.1),
// whether it is loopback, and which connection errors are routine rather
// than the operator's concern.
package peer

import (
	"net"
	"strings"
)

// Key is the address a connection is counted under for limits: its IPv4
// address, or the /64 of an IPv6 address, so a host cannot take a whole
// allowance by walking the addresses of its own subnet.
func Key(addr net.Addr) string {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return ipKey(tcp.IP, host)
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return ipKey(net.ParseIP(host), host)
}

func ipKey(ip net.IP, fallback string) string {
	if ip == nil {
		return fallback
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// IsLoopback reports whether addr is a loopback address.
func IsLoopback(addr net.Addr) bool {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// routine are the errors of clients that hang up or go quiet: everyday on
// the internet (health checks, scanners, phones losing signal).
var routine = []string{"connection reset by peer", "broken pipe", "i/o timeout", "EOF", "use of closed network connection"}

// Routine reports whether a server library's error message is a client
// hanging up or timing out (logged at info), or one of the extra client
// faults a listener names; a panic is never routine.
func Routine(msg string, extra ...string) bool {
	if strings.Contains(msg, "panic") {
		return false
	}
	for _, list := range [][]string{routine, extra} {
		for _, s := range list {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return false
}
