package metrics_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"parley/metrics"
	"parley/translate"
	"parley/translate/apytest"
)

func TestPprofOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9464}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.53"), Port: 9464}, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 9464}, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9464}, false},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 9464}, false},
		{&net.TCPAddr{Port: 9464}, false}, // ":9464": every interface
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 9464}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 9464}, false},
		{&net.UnixAddr{Name: "/run/parley/metrics.sock", Net: "unix"}, false},
	} {
		if got := metrics.PprofAllowed(c.addr); got != c.want {
			t.Errorf("PprofAllowed(%v) = %v, want %v", c.addr, got, c.want)
		}
	}
	// Real listeners: what the daemon actually asks about.
	for addr, want := range map[string]bool{"127.0.0.1:0": true, ":0": false} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := metrics.PprofAllowed(l.Addr()); got != want {
			t.Errorf("listener on %s (%v): PprofAllowed = %v, want %v", addr, l.Addr(), got, want)
		}
		l.Close()
	}
}

func TestHandlerServesPprofOnlyWhenAllowed(t *testing.T) {
	reg, health := metrics.New(metrics.Options{}), metrics.NewHealth()
	for _, on := range []bool{true, false} {
		srv := httptest.NewServer(metrics.Handler(reg, health, on))
		for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/heap?debug=1": 200, "/debug/pprof/cmdline": 200} {
			if !on {
				want = http.StatusNotFound
			}
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof %v: GET %s = %d, want %d", on, path, resp.StatusCode, want)
			}
		}
		if _, err := metrics.Scrape(srv.URL + "/metrics"); err != nil {
			t.Errorf("scrape: %v", err)
		}
		srv.Close()
	}
	if h, pattern := http.DefaultServeMux.Handler(httptest.NewRequest("GET", "/debug/pprof/", nil)); pattern != "" {
		t.Errorf("pprof registered on http.DefaultServeMux: %v %q", h, pattern)
	}
}

// TestNilCountersCountNothing: packages built without metrics get nil.
func TestNilCountersCountNothing(t *testing.T) {
	var r *metrics.Registry
	r.SMTP("smtp").Message(250, 10)
	r.SMTP("smtp").SessionEnded(true)
	r.SMTP("smtp").Refused()
	r.Outbound().Delivered(time.Second)
	r.Outbound().Deferred()
	r.Outbound().Failed()
	r.Procedure().JobFailed(true)
	r.Procedure().TimerFailed(false)
	r.IMAP().Session()
	r.IMAP().Login("failure")
	if r.Translations(nil) != nil {
		t.Error("no engine must stay no engine")
	}
}

// TestTranslationCalls counts a real engine's calls: one that cannot be
// reached (error) and, where apertium-apy is installed, one that answers.
func TestTranslationCalls(t *testing.T) {
	reg := metrics.New(metrics.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	eng, err := translate.New(translate.Config{Engine: "libretranslate", URL: dead}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var counted translate.Engine = reg.Translations(eng)
	if _, err := counted.Translate(context.Background(), "hola", "es", "en"); err == nil {
		t.Fatal("a closed port translated")
	}
	f, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Value("parley_translation_calls_total", "engine", "libretranslate", "result", "error"); v != 1 {
		t.Errorf("libretranslate errors = %v, want 1", v)
	}

	url, _ := apytest.Start(t)
	eng, err = translate.New(translate.Config{Engine: "apertium", URL: url}, &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	counted = reg.Translations(eng)
	if _, err := counted.Translate(context.Background(), "La casa es grande.", "es", "en"); err != nil {
		t.Fatal(err)
	}
	f, _ = reg.Gather()
	if v, _ := f.Value("parley_translation_calls_total", "engine", "apertium", "result", "ok"); v != 1 {
		t.Errorf("apertium ok = %v, want 1", v)
	}
}

// BenchmarkCountMessage is what one relayed message costs the counters: its
// session, its DATA answer and its delivery with the relay latency.
func BenchmarkCountMessage(b *testing.B) {
	reg := metrics.New(metrics.Options{})
	smtp, out := reg.SMTP("smtp"), reg.Outbound()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			smtp.Message(250, 5120)
			smtp.SessionEnded(true)
			out.Delivered(1500 * time.Millisecond)
		}
	})
}
