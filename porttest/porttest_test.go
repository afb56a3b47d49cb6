package porttest

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	lo, hi := quietPorts()
	if lo >= hi {
		t.Fatalf("quiet ports %d-%d: an empty span", lo, hi)
	}
	for range 20 {
		addr, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Free() = %q, want 127.0.0.1:port", addr)
		}
		if n, _ := strconv.Atoi(port); n < lo || n >= hi {
			t.Errorf("Free() = %s, want a port in %d-%d", addr, lo, hi-1)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("bind %s: %v", addr, err)
		}
		l.Close()
	}
}
