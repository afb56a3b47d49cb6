package imapd

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"parley/metrics"
)

// TestMetricsCountSessionsAndLogins logs in over real IMAP: a success, two
// failures, then a refusal by the rate limit, each in its own session.
func TestMetricsCountSessionsAndLogins(t *testing.T) {
	reg := metrics.New(metrics.Options{})
	h := newHarness(t, withAuth(AuthConfig{MaxFailuresPerAddr: 2, MaxFailuresPerAccount: 100, Window: time.Hour, FailDelay: -1, Metrics: reg.IMAP()}),
		withConfig(func(c *Config) { c.Metrics = reg.IMAP() }))
	for _, pw := range []string{testPassword, "wrong", "wrong again", testPassword} {
		c, err := imapclient.DialInsecure(h.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Login(testUser, pw).Wait()
		c.Close()
	}
	f, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"parley_imap_sessions_total", nil, 4},
		{"parley_mediator_logins_total", []string{"result", "success"}, 1},
		{"parley_mediator_logins_total", []string{"result", "failure"}, 2},
		{"parley_mediator_logins_total", []string{"result", "rate_limited"}, 1},
	} {
		if v, ok := f.Value(w.name, w.labels...); !ok || v != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value)
		}
	}
}
