package peer

import (
	"net"
	"testing"
)

func TestKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:25":                "192.0.2.7",
		"[2001:db8:1:2:aa::1]:25":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:4711": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:25":        "2001:db8:1:3::/64",
		"[::ffff:192.0.2.7]:25":       "192.0.2.7",
		"not an address":              "not an address",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		var a net.Addr = fakeAddr(addr)
		if err == nil {
			a = tcp
		}
		if got := Key(a); got != want {
			t.Errorf("Key(%s) = %q, want %q", addr, got, want)
		}
		if got := Key(fakeAddr(addr)); got != want {
			t.Errorf("Key(%s as text) = %q, want %q", addr, got, want)
		}
	}
}

func TestIsLoopbackAndRoutine(t *testing.T) {
	if !IsLoopback(&net.TCPAddr{IP: net.ParseIP("::1")}) || !IsLoopback(fakeAddr("127.0.0.2:1")) || IsLoopback(fakeAddr("192.0.2.1:1")) {
		t.Error("IsLoopback")
	}
	if !Routine("read tcp 127.0.0.1:25->127.0.0.1:5: i/o timeout") || Routine("panic serving: EOF") || Routine("disk full") {
		t.Error("Routine")
	}
	if !Routine("imapwire: bad literal", "imapwire:") {
		t.Error("Routine with an extra fault")
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
