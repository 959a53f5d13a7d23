package server

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's runtime profiles (net/http/pprof) on its own
// listener at metrics.pprof_addr — which config.Validate allows only on a
// loopback address — until ctx ends. It is off (returns a no-op) when the
// setting is empty. The handlers are on a mux of their own: nothing of
// them is reachable through server.addr, and importing net/http/pprof
// registers them on http.DefaultServeMux only, which Latchkey never serves.
func (a *App) servePprof(ctx context.Context) (stop func(), err error) {
	addr := a.cfg.Metrics.PprofAddr
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	a.log.Warn("serving runtime profiles (metrics.pprof_addr); turn off outside profiling", "addr", ln.Addr().String())
	return func() { _ = srv.Close(); <-done }, nil
}

// pprofMux routes /debug/pprof/ to net/http/pprof's handlers.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
