// Package porttest picks loopback TCP ports for a daemon that a test or a
// bench driver starts later, as a separate process, on a port it is told.
//
// Such a port can only be found free, released, and bound again by the
// daemon a moment later. A port of the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), once released, can be handed to
// any process's next listen on :0 or outgoing connection (the test packages
// run side by side), and the daemon then fails with "address already in use"
// (seen in CI). Free takes its ports below that range, where only an explicit
// bind takes a port. Only tests and the bench drivers import it.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// Free returns "127.0.0.1:port" for a port that was free a moment ago, below
// the ephemeral range; after 200 ports found taken there, one the kernel
// picks.
func Free() (string, error) {
	lo, hi := quietPorts()
	for range 200 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// quietPorts is the span Free picks from: from 20000 (above the well-known
// and registered ports daemons default to) up to the start of the ephemeral
// range, or 20000-32767 when the range cannot be read or leaves no room
// below it.
func quietPorts() (lo, hi int) {
	lo, hi = 20000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err == nil && first > lo+1000 {
		hi = first
	}
	return lo, hi
}
