package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"parley/casestore"
	"parley/config"
	"parley/metrics"
	"parley/smtpd"
	"parley/threading"
	"parley/translate"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func monitorFor(t *testing.T, clk *clock) (*casestore.Store, *monitor) {
	t.Helper()
	store, err := casestore.Open(t.TempDir(), casestore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := config.Default()
	cfg.Metrics.Listen = "127.0.0.1:0"
	mon, err := startMonitor(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mon.close)
	return store, mon
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestStoreGaugesAtScrape fills a real store and scrapes the daemon's
// metrics listener: queue depth and oldest age, jobs, timers and cases by
// state (the latter recounted only after its cache expires).
func TestStoreGaugesAtScrape(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	store, mon := monitorFor(t, clk)
	url := "http://" + mon.addr.String() + "/metrics"
	put := func(fn func(tx *casestore.Tx) error) {
		t.Helper()
		if err := store.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	put(func(tx *casestore.Tx) error {
		for i, state := range []string{casestore.StateOpen, casestore.StateOpen, casestore.StateMediation} {
			c := &casestore.Case{ID: "PC-" + string(rune('A'+i)), State: state}
			if err := tx.SetTimer(c, casestore.Timer{Kind: "window", Due: clk.Now().Add(7 * 24 * time.Hour)}); err != nil {
				return err
			}
			if err := tx.PutCase(c); err != nil {
				return err
			}
		}
		if err := tx.AddJob(&casestore.Job{Kind: casestore.JobIngest, Message: 1, Shard: "x"}); err != nil {
			return err
		}
		return tx.AddOutbound(&casestore.Outbound{To: "a@example.org", Created: clk.Now(), Next: clk.Now()}, []byte("Subject: one\r\n\r\nx\r\n"))
	})
	clk.Add(90 * time.Second)
	put(func(tx *casestore.Tx) error {
		return tx.AddOutbound(&casestore.Outbound{To: "b@example.org", Created: clk.Now(), Next: clk.Now()}, []byte("Subject: two\r\n\r\nx\r\n"))
	})
	f, err := metrics.Scrape(url)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(f metrics.Families, name string, want float64, labels ...string) {
		t.Helper()
		if v, ok := f.Value(name, labels...); !ok || v != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, want)
		}
	}
	expect(f, "parley_outbound_queue_messages", 2)
	expect(f, "parley_outbound_queue_oldest_age_seconds", 90)
	expect(f, "parley_procedure_jobs_pending", 1)
	expect(f, "parley_procedure_timers_pending", 3)
	expect(f, "parley_procedure_timers_parked", 0)
	expect(f, "parley_cases", 2, "state", "open")
	expect(f, "parley_cases", 1, "state", "mediation")
	expect(f, "parley_store_commits_total", 2) // one caller at a time: a commit each
	expect(f, "parley_store_commit_callers_total", 2)
	writes, _ := f.Value("parley_store_page_writes_total")
	if writes < 2 {
		t.Errorf("parley_store_page_writes_total = %v after two commits", writes)
	}
	// Real commits to a real file: each one wrote and fsynced, which takes
	// time, and the writes are a part of the commit.
	busy, _ := f.Value("parley_store_commit_seconds_total")
	disk, _ := f.Value("parley_store_write_seconds_total")
	if disk <= 0 || busy < disk {
		t.Errorf("parley_store_commit_seconds_total = %v, parley_store_write_seconds_total = %v after two commits", busy, disk)
	}

	put(func(tx *casestore.Tx) error {
		c, err := tx.Case("PC-C")
		if err != nil {
			return err
		}
		c.State = casestore.StateClosed
		return tx.PutCase(c)
	})
	f, _ = metrics.Scrape(url)
	expect(f, "parley_cases", 1, "state", "mediation") // cached: within the TTL
	clk.Add(31 * time.Second)
	f, _ = metrics.Scrape(url)
	expect(f, "parley_cases", 0, "state", "mediation") // emptied, still listed
	expect(f, "parley_cases", 1, "state", "closed")
	expect(f, "parley_outbound_queue_oldest_age_seconds", 121)
	expect(f, "parley_store_commits_total", 3)
	if w, _ := f.Value("parley_store_page_writes_total"); w <= writes {
		t.Errorf("parley_store_page_writes_total = %v after a third commit, was %v", w, writes)
	}
	if b, _ := f.Value("parley_store_commit_seconds_total"); b <= busy {
		t.Errorf("parley_store_commit_seconds_total = %v after a third commit, was %v", b, busy)
	}
	if d, _ := f.Value("parley_store_write_seconds_total"); d <= disk {
		t.Errorf("parley_store_write_seconds_total = %v after a third commit, was %v", d, disk)
	}
}

// TestHealthzSaysWhatIsDown serves a real SMTP listener beside the store:
// 200 while both are up, 503 naming the listener once it stops, and the
// store once it is closed.
func TestHealthzSaysWhatIsDown(t *testing.T) {
	clk := &clock{now: time.Now()}
	store, mon := monitorFor(t, clk)
	url := "http://" + mon.addr.String() + "/healthz"
	keys, err := threading.LoadOrCreateKeys(t.TempDir() + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	cfg := smtpConfig(config.Default())
	srv := smtpd.New(cfg, store, keys, nopJobs{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		served <- mon.serving("smtp", func() error { close(started); return srv.Serve(l) })
	}()
	<-started
	if code, body := get(t, url); code != http.StatusServiceUnavailable || body != "parley: starting\n" {
		t.Fatalf("healthz before serve is done starting: %d %q", code, body)
	}
	mon.health.Up("parley")
	if code, body := get(t, url); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthz while serving: %d %q", code, body)
	}
	srv.Shutdown(t.Context())
	<-served
	code, body := get(t, url)
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "smtp: stopped") {
		t.Errorf("healthz after the SMTP listener stopped: %d %q", code, body)
	}
	store.Close()
	if code, body := get(t, url); code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") {
		t.Errorf("healthz after the store closed: %d %q", code, body)
	}
}

// nopJobs takes the jobs of accepted mail; no mail is sent in the health test.
type nopJobs struct{}

func (nopJobs) Submit(...casestore.Job) {}

// TestDashboardMatchesMetrics reads contrib/grafana/parley.json: valid JSON,
// a datasource variable, and every parley_ series its panels query is one the
// daemon exposes.
func TestDashboardMatchesMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../contrib/grafana/parley.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Templating struct {
			List []struct{ Type, Name string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Datasource struct{ UID string }    `json:"datasource"`
			Targets    []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	hasVar := false
	for _, v := range dash.Templating.List {
		hasVar = hasVar || (v.Type == "datasource" && v.Name == "datasource")
	}
	if !hasVar {
		t.Error("no datasource variable")
	}
	_, mon := monitorFor(t, &clock{now: time.Now()})
	mon.reg.SMTP("smtp")
	mon.reg.Outbound()
	mon.reg.IMAP()
	eng, err := translate.New(translate.Config{Engine: "apertium", URL: "http://127.0.0.1:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mon.reg.Translations(eng)
	f, err := metrics.Scrape("http://" + mon.addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// The naming conventions, checked by promtool's linter.
	problems, err := testutil.GatherAndLint(mon.reg.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	name := regexp.MustCompile(`\b(parley_[a-z_]+?)(_bucket|_sum|_count)?\b`)
	queried := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("panel query %q does not use the datasource variable", tg.Expr)
			}
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				queried++
				if _, ok := f[m[1]]; !ok {
					t.Errorf("dashboard queries %s, which the daemon does not expose", m[1])
				}
			}
		}
	}
	if queried < 20 {
		t.Errorf("only %d parley_ series queried", queried)
	}
}
