package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/metrics"
)

func TestReadyz(t *testing.T) {
	down := PingFunc(func(context.Context) error { return errors.New("connection refused") })
	up := PingFunc(func(context.Context) error { return nil })
	// hang answers only when the readiness timeout ends the wait.
	hang := PingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	tests := []struct {
		name          string
		db, redis     Pinger
		redisRequired bool
		status        int
		want          map[string]string
	}{
		{"database only, up", up, nil, false, 200, map[string]string{"status": "ok", "database": "ok"}},
		{"database down", down, nil, false, 503, map[string]string{"status": "unavailable", "database": "unreachable"}},
		{"database and redis up", up, up, true, 200, map[string]string{"status": "ok", "database": "ok", "redis": "ok"}},
		{"required redis down", up, down, true, 503, map[string]string{"status": "unavailable", "database": "ok", "redis": "unreachable"}},
		{"required redis hangs", up, hang, true, 503, map[string]string{"status": "unavailable", "database": "ok", "redis": "unreachable"}},
		{"optional redis down", up, down, false, 200, map[string]string{"status": "degraded", "database": "ok", "redis": "unreachable"}},
		{"database down, optional redis up", down, up, false, 503, map[string]string{"status": "unavailable", "database": "unreachable", "redis": "ok"}},
		{"both down", down, down, false, 503, map[string]string{"status": "unavailable", "database": "unreachable", "redis": "unreachable"}},
	}
	gin.SetMode(gin.ReleaseMode)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := gin.New()
			d := Deps{DB: tc.db, Logger: slog.New(slog.DiscardHandler), RedisRequired: tc.redisRequired}
			if tc.redis != nil {
				d.Redis = tc.redis
			}
			e.GET("/readyz", readyz(d))
			start := time.Now()
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if took := time.Since(start); took > readyRedisTimeout+time.Second {
				t.Errorf("took %v", took)
			}
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.status || len(got) != len(tc.want) {
				t.Fatalf("got %d %v, want %d %v", rec.Code, got, tc.status, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (body %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// observed is a RequestObserver that remembers what it was told.
type observed struct {
	mu    sync.Mutex
	calls []string
}

func (o *observed) ObserveRequest(route, method string, status int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, method+" "+route+" "+http.StatusText(status))
}

func TestObserveUsesRoutePatterns(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	o := &observed{}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.Use(observe(o))
	e.GET("/user/keys/:handle", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	e.GET("/static/*path", func(c *gin.Context) { c.Status(http.StatusOK) })
	e.NoRoute(func(c *gin.Context) { c.Status(http.StatusNotFound) })
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/user/keys/abc", "GET /user/keys/:handle No Content"},
		{"GET", "/user/keys/lk_live_secret", "GET /user/keys/:handle No Content"},
		{"GET", "/static/css/site.css", "GET /static/*path OK"},
		{"GET", "/no/such/path", "GET  Not Found"},
		{"POST", "/user/keys/abc", "POST  Method Not Allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			o.calls = nil
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
			if len(o.calls) != 1 || o.calls[0] != tc.want {
				t.Errorf("observed %q, want [%q]", o.calls, tc.want)
			}
		})
	}
}

// BenchmarkObserve measures what the metrics middleware adds to a request:
// compare ns/op and allocs/op of "bare" and "observed".
func BenchmarkObserve(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  RequestObserver
	}{{"bare", nil}, {"observed", m}} {
		b.Run(bc.name, func(b *testing.B) {
			e := gin.New()
			if bc.obs != nil {
				e.Use(observe(bc.obs))
			}
			e.GET("/user/keys/:handle", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			req := httptest.NewRequest("GET", "/user/keys/abc", nil)
			w := discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(w, req)
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the engine and not a recorder.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (w discardWriter) WriteHeader(int)             {}
