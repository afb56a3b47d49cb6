package metrics

import (
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// net/http/pprof registers its handlers on http.DefaultServeMux when it is
// initialised (before this package is), so any server started with a nil
// handler would expose them on whatever address it listens on. Parley
// serves no default mux; this takes them off it all the same, so the
// profiles are only ever served by Handler, on loopback.
func init() { http.DefaultServeMux = http.NewServeMux() }

// Handler serves /metrics (Prometheus text), /healthz and, with withPprof,
// Go's profiles under /debug/pprof/. It uses a mux of its own: nothing is
// registered on http.DefaultServeMux.
func Handler(r *Registry, h *Health, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		Registry: r.reg, MaxRequestsInFlight: 4, EnableOpenMetrics: false,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, report := h.Status()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(report))
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves the named profiles (heap, goroutine...)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// PprofAllowed reports whether a listener bound to addr may serve the
// profiles: only on a loopback address, since they reveal memory contents
// and let anyone who reaches them load the CPU.
func PprofAllowed(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
