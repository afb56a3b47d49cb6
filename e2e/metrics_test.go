package e2e

import (
	"io"
	"net/http"
	"testing"
	"time"

	"parley/metrics"
)

// TestMetricsMoveWithMail runs the daemon with its metrics listener, opens a
// case and relays a reply over real SMTP, then scrapes /metrics over HTTP as
// Prometheus would and checks the counters moved; /healthz and pprof answer.
func TestMetricsMoveWithMail(t *testing.T) {
	e := newEnv(t)
	base := "http://" + e.d.metricsAddr
	oc := e.openCase("Ada Lovelace", "ada@consumer.example")
	reply := e.traderReply(oc, "", nil, "We shipped it again today. RELAY-"+oc.ID+"\n")
	if err := sendMail(e.d.smtpAddr, traderEmail, []string{oc.TraderAddr}, reply); err != nil {
		t.Fatalf("trader reply: %v", err)
	}
	e.sink.WaitFor(20*time.Second, "relay to the consumer", isRelayTo(oc, "RELAY-"+oc.ID))

	var f metrics.Families
	var err error
	// The sink sees a message just before the queue records it: wait for the record.
	if !waitUntil(10*time.Second, 50*time.Millisecond, func() bool {
		f, err = metrics.Scrape(base + "/metrics")
		n, _ := f.Value("parley_relay_latency_seconds")
		q, _ := f.Value("parley_outbound_queue_messages")
		return err == nil && n >= 1 && q == 0
	}) {
		t.Fatalf("relay never timed or queue never empty: %v", err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"parley_smtp_sessions_total", []string{"listener", "smtp", "result", "mail"}, 2, 2},
		{"parley_smtp_messages_total", []string{"listener", "smtp", "result", "accepted", "code_class", "2xx"}, 2, 2},
		{"parley_smtp_received_bytes_total", []string{"listener", "smtp"}, float64(len(reply)) + 200, 1 << 20},
		{"parley_smtp_message_size_bytes", []string{"listener", "smtp"}, 2, 2},
		{"parley_outbound_deliveries_total", []string{"result", "delivered"}, 3, 10}, // notice, confirmation, relay
		{"parley_outbound_deliveries_total", []string{"result", "failed"}, 0, 0},
		{"parley_relay_latency_seconds", nil, 1, 1},
		{"parley_outbound_queue_oldest_age_seconds", nil, 0, 0},
		{"parley_procedure_timers_pending", nil, 1, 10}, // the trader's window
		{"parley_procedure_job_failures_total", []string{"outcome", "parked"}, 0, 0},
		{"parley_cases", []string{"state", "open"}, 1, 1},
		{"go_goroutines", nil, 5, 1e6},
		{"process_resident_memory_bytes", nil, 1 << 20, 1 << 40},
	} {
		v, ok := f.Value(c.name, c.labels...)
		if !ok || v < c.min || v > c.max {
			t.Errorf("%s%v = %v (present %v), want %v..%v", c.name, c.labels, v, ok, c.min, c.max)
		}
	}

	for _, path := range []string{"/healthz", "/debug/pprof/", "/debug/pprof/cmdline"} {
		code, body := httpGet(t, base+path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
		if path == "/healthz" && body != "ok\n" {
			t.Errorf("healthz body %q", body)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}
