package metrics

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value returns the value of the series name{labels} in reg, and whether
// it exists. Histograms report their sample count.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			default:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	var hits, misses atomic.Uint64
	m.Cache("api_keys", func() (uint64, uint64) { return hits.Load(), misses.Load() })

	m.ObserveRequest("/user/keys/:handle", "GET", 200, 3*time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)
	m.ObserveRequest("", "BREW", 404, time.Millisecond)
	m.ObserveRequest("", "PROPFIND", 404, time.Millisecond)
	m.ObserveRequest("/x", "GET", 1000, time.Millisecond)
	m.TokenIssued("client_credentials")
	m.TokenIssued("client_credentials")
	m.KeyVerified("not_found")
	m.RateLimited("api_key_burst")
	m.RateLimitBackendError()
	m.JanitorPurged("requests", 7)
	m.JanitorPurged("requests", 0)
	m.KeyExpiryWarning(true)
	m.KeyExpiryWarning(false)
	m.KeyExpiryWarning(true)
	hits.Add(5)
	misses.Add(2)

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"request by pattern", "latchkey_http_requests_total", map[string]string{"route": "/user/keys/:handle", "method": "GET", "status": "200"}, 1},
		{"unmatched routes share one series", "latchkey_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"unknown methods share one series", "latchkey_http_requests_total", map[string]string{"route": "unmatched", "method": "other", "status": "404"}, 2},
		{"impossible status", "latchkey_http_requests_total", map[string]string{"route": "/x", "method": "GET", "status": "other"}, 1},
		{"duration histogram", "latchkey_http_request_duration_seconds", map[string]string{"route": "/user/keys/:handle", "method": "GET"}, 1},
		{"tokens", "latchkey_tokens_issued_total", map[string]string{"grant": "client_credentials"}, 2},
		{"tokens not yet issued exist at zero", "latchkey_tokens_issued_total", map[string]string{"grant": "refresh_token"}, 0},
		{"verifications", "latchkey_key_verifications_total", map[string]string{"result": "not_found"}, 1},
		{"valid verifications at zero", "latchkey_key_verifications_total", map[string]string{"result": "valid"}, 0},
		{"refusals", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "api_key_burst"}, 1},
		{"backend errors", "latchkey_rate_limit_backend_errors_total", map[string]string{}, 1},
		{"janitor", "latchkey_janitor_purged_rows_total", map[string]string{"table": "requests"}, 7},
		{"key warnings sent", "latchkey_key_expiry_warnings_total", map[string]string{"result": "sent"}, 2},
		{"key warnings failed", "latchkey_key_expiry_warnings_total", map[string]string{"result": "failed"}, 1},
		{"cache hits", "latchkey_cache_requests_total", map[string]string{"cache": "api_keys", "result": "hit"}, 5},
		{"cache misses", "latchkey_cache_requests_total", map[string]string{"cache": "api_keys", "result": "miss"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := value(t, reg, tc.metric, tc.labels)
			if !ok || got != tc.want {
				t.Errorf("%s%v = %v (present %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
			}
		})
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/", "GET", 200, time.Millisecond)
	m.TokenIssued("authorization_code")
	m.KeyVerified("valid")
	m.RateLimited("login")
	m.RateLimitBackendError()
	m.JanitorPurged("requests", 1)
	m.KeyExpiryWarning(true)
	m.Cache("users", func() (uint64, uint64) { return 0, 0 })
	if err := m.DBPool("writer", &sql.DB{}); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	const token = "metrics-token-0123456789"
	tests := []struct {
		name   string
		token  string
		authz  string
		status int
	}{
		{"no token configured", "", "", 200},
		{"no token configured, header ignored", "", "Bearer whatever", 200},
		{"missing header", token, "", 401},
		{"wrong token", token, "Bearer metrics-token-0123456780", 401},
		{"prefix of the token", token, "Bearer metrics-token", 401},
		{"wrong scheme", token, "Basic " + token, 401},
		{"no scheme", token, token, 401},
		{"right token", token, "Bearer " + token, 200},
		{"scheme in any case", token, "bearer " + token, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			rec := httptest.NewRecorder()
			Handler(reg, tc.token).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			body := rec.Body.String()
			if tc.status == http.StatusOK && !strings.Contains(body, "latchkey_tokens_issued_total") {
				t.Errorf("no metrics in the answer:\n%s", body)
			}
			if tc.status == http.StatusUnauthorized {
				if rec.Header().Get("WWW-Authenticate") == "" || strings.Contains(body, "latchkey_") {
					t.Errorf("401 without a challenge or with metrics: %v %s", rec.Header(), body)
				}
			}
		})
	}
}

// TestInvalidationListening: the gauge starts at 1 and follows the listener.
func TestInvalidationListening(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		set  *bool
		want float64
	}{{nil, 1}, {ptr(false), 0}, {ptr(true), 1}} {
		if step.set != nil {
			m.InvalidationListening(*step.set)
		}
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, f := range fams {
			if f.GetName() == "latchkey_invalidation_listener_up" {
				got = f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != step.want {
			t.Fatalf("invalidation_listener_up = %v, want %v", got, step.want)
		}
	}
	var none *Metrics
	none.InvalidationListening(false) // a nil *Metrics records nothing
}

func ptr[T any](v T) *T { return &v }
