package server_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/oauth"
)

// scrape is one parsed GET /metrics answer.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics fetches and parses s's /metrics, sending token when set.
func scrapeMetrics(t *testing.T, s *testServer, token string) scrape {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the series name{labels} (exactly these labels): a
// counter's or gauge's value, a histogram's sample count; 0 when absent.
func (sc scrape) value(name string, labels map[string]string) float64 {
	mf := sc[name]
	if mf == nil {
		return 0
	}
	for _, m := range mf.GetMetric() {
		if maps.Equal(labelMap(m), labels) {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				return m.GetUntyped().GetValue()
			}
		}
	}
	return 0
}

// labelValues lists the values label takes across the series of name.
func (sc scrape) labelValues(name, label string) []string {
	var out []string
	if mf := sc[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			if v, ok := labelMap(m)[label]; ok && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// send makes one request and returns its status.
func send(t *testing.T, method, u, authz string) int {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsFlow drives a real flow through the server — client
// credentials tokens, a key exchange, key-authenticated calls up to a 429,
// invalid and malformed keys, guessing and login throttles, unknown paths —
// and checks that each series moved by exactly what was done.
func TestMetricsFlow(t *testing.T) {
	s := newTestServerWith(t, func(c *config.Config) {
		withTinyTier(c)                 // tier "tiny": 3 requests per hour
		c.RateLimits.TokenPerMinute = 3 // token endpoint and credential failures
		c.RateLimits.LoginPerMinute = 2 // password failures
	})
	s.CreateUser(t, "mona", "mona-password-123")
	pw := basicHeader("mona", "mona-password-123")
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	before := scrapeMetrics(t, s, "")

	// Three client_credentials tokens, then the token endpoint's 429.
	for range 3 {
		clientToken(t, s, id, sec, "users:read")
	}
	tokReq, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	tokReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tokReq.SetBasicAuth(id, sec)
	resp, err := http.DefaultClient.Do(tokReq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th token request: %d, want 429", resp.StatusCode)
	}

	// A key on the tiny tier: exchanged once, used twice, then refused.
	key := createTierKey(t, s, pw, "tiny", "tiny", `["users:read"]`)
	if code := send(t, "POST", s.URL+"/tokens/generate", "Bearer "+key); code != 200 {
		t.Fatalf("generate: %d", code)
	}
	for i := range 3 {
		want := map[bool]int{true: 200, false: 429}[i < 2]
		if code := send(t, "GET", s.URL+"/user", "Bearer "+key); code != want {
			t.Fatalf("key call %d: %d, want %d", i+1, code, want)
		}
	}

	// Route patterns: a handle in the path is not a label value.
	if code := send(t, "GET", s.URL+"/user/keys/abc", pw); code != 404 {
		t.Fatalf("GET /user/keys/abc: %d", code)
	}

	// Invalid keys: unknown (well-formed), malformed; the third failure
	// from this address exhausts the guessing budget (3), the next is 429.
	unknown, _ := keys.NewFormat("lk").New(keys.EnvLive)
	for _, k := range []string{unknown, "lk_live_short", unknown} {
		if code := send(t, "GET", s.URL+"/user", "Bearer "+k); code != 401 {
			t.Fatalf("bad key %q: %d, want 401", k, code)
		}
	}
	if code := send(t, "GET", s.URL+"/user", "Bearer "+unknown); code != 429 {
		t.Fatalf("guessing: %d, want 429", code)
	}

	// Unknown paths and methods share one series each.
	for i := range 25 {
		if code := send(t, "GET", fmt.Sprintf("%s/nope-%d/x%d", s.URL, i, i), ""); code != 404 {
			t.Fatalf("unknown path: %d", code)
		}
	}
	if code := send(t, "BREW", s.URL+"/user", pw); code != 405 && code != 404 {
		t.Fatalf("BREW: %d", code)
	}

	// Password failures: two wrong passwords, then the login throttle.
	wrong := basicHeader("mona", "not-the-password")
	for i, want := range []int{401, 401, 429} {
		if code := send(t, "GET", s.URL+"/user", wrong); code != want {
			t.Fatalf("wrong password %d: %d, want %d", i+1, code, want)
		}
	}

	after := scrapeMetrics(t, s, "")
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		delta  float64
	}{
		{"client_credentials tokens", "latchkey_tokens_issued_total", map[string]string{"grant": "client_credentials"}, 3},
		{"key exchange tokens", "latchkey_tokens_issued_total", map[string]string{"grant": "api_key_exchange"}, 1},
		{"no code tokens", "latchkey_tokens_issued_total", map[string]string{"grant": "authorization_code"}, 0},
		{"valid key verifications (generate, 2 calls, the refused call)", "latchkey_key_verifications_total", map[string]string{"result": "valid"}, 4},
		{"unknown keys", "latchkey_key_verifications_total", map[string]string{"result": "not_found"}, 2},
		{"malformed keys", "latchkey_key_verifications_total", map[string]string{"result": "malformed"}, 1},
		{"token endpoint 429", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "token_endpoint"}, 1},
		{"key quota 429", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "api_key_quota"}, 1},
		{"guessing 429", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "credential_guessing"}, 1},
		{"login 429", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "login"}, 1},
		{"no burst 429", "latchkey_rate_limit_refusals_total", map[string]string{"scope": "api_key_burst"}, 0},
		{"no backend errors", "latchkey_rate_limit_backend_errors_total", map[string]string{}, 0},
		{"token requests", "latchkey_http_requests_total", map[string]string{"route": "/oauth/token", "method": "POST", "status": "200"}, 3},
		{"token 429s", "latchkey_http_requests_total", map[string]string{"route": "/oauth/token", "method": "POST", "status": "429"}, 1},
		{"key creation", "latchkey_http_requests_total", map[string]string{"route": "/user/keys", "method": "POST", "status": "201"}, 1},
		{"key exchange", "latchkey_http_requests_total", map[string]string{"route": "/tokens/generate", "method": "POST", "status": "200"}, 1},
		{"GET /user 200", "latchkey_http_requests_total", map[string]string{"route": "/user", "method": "GET", "status": "200"}, 2},
		{"GET /user 429 (quota, guessing, login)", "latchkey_http_requests_total", map[string]string{"route": "/user", "method": "GET", "status": "429"}, 3},
		{"GET /user 401", "latchkey_http_requests_total", map[string]string{"route": "/user", "method": "GET", "status": "401"}, 5},
		{"a handle is a pattern", "latchkey_http_requests_total", map[string]string{"route": "/user/keys/:handle", "method": "GET", "status": "404"}, 1},
		{"unknown paths", "latchkey_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 25},
		{"GET /user durations", "latchkey_http_request_duration_seconds", map[string]string{"route": "/user", "method": "GET"}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := after.value(tc.metric, tc.labels) - before.value(tc.metric, tc.labels); got != tc.delta {
				t.Errorf("%s%v moved by %v, want %v", tc.metric, tc.labels, got, tc.delta)
			}
		})
	}

	t.Run("key cache lookups", func(t *testing.T) {
		// Six verifications of well-formed keys reached the cache (4
		// valid, 2 unknown; malformed keys stop before it): at least the
		// first of each key missed.
		look := func(sc scrape, result string) float64 {
			return sc.value("latchkey_cache_requests_total", map[string]string{"cache": "api_keys", "result": result})
		}
		hits, misses := look(after, "hit")-look(before, "hit"), look(after, "miss")-look(before, "miss")
		if hits+misses != 6 || misses < 2 {
			t.Errorf("api_keys cache: %v hits, %v misses; want 6 lookups, at least 2 misses", hits, misses)
		}
		users := after.value("latchkey_cache_requests_total", map[string]string{"cache": "users", "result": "hit"}) +
			after.value("latchkey_cache_requests_total", map[string]string{"cache": "users", "result": "miss"})
		if users == 0 {
			t.Error("users cache: no lookups counted")
		}
		if got := after.labelValues("latchkey_cache_requests_total", "cache"); !slices.Equal(got, []string{"access_tokens", "api_keys", "clients", "users"}) {
			t.Errorf("caches %v", got)
		}
	})
	t.Run("label values stay bounded", func(t *testing.T) {
		routes := []string{"unmatched"}
		for _, r := range s.App.Handler().(*gin.Engine).Routes() {
			routes = append(routes, r.Path)
		}
		for _, r := range after.labelValues("latchkey_http_requests_total", "route") {
			if !slices.Contains(routes, r) {
				t.Errorf("route label %q is not a route pattern", r)
			}
		}
		if got := after.labelValues("latchkey_http_requests_total", "method"); slices.Contains(got, "BREW") {
			t.Errorf("methods %v: a made-up method became a label value", got)
		}
	})
	t.Run("runtime, process and pool metrics", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_open_fds", "go_sql_open_connections"} {
			if after[name] == nil {
				t.Errorf("no %s", name)
			}
		}
		if got := after.labelValues("go_sql_max_open_connections", "db_name"); !slices.Equal(got, []string{"reader", "writer"}) {
			t.Errorf("pools %v, want reader and writer", got)
		}
		if v := after.value("go_sql_max_open_connections", map[string]string{"db_name": "writer"}); v != 1 {
			t.Errorf("writer pool max %v, want 1", v)
		}
	})
}

// TestMetricsEndpointAccess: metrics.token guards /metrics (constant-time
// bearer comparison); metrics.enabled false removes it.
func TestMetricsEndpointAccess(t *testing.T) {
	const token = "scrape-token-7f3a9c21e8b4"
	guarded := newTestServerWith(t, func(c *config.Config) { c.Metrics.Token = token })
	tests := []struct {
		name  string
		authz string
		want  int
	}{
		{"no credentials", "", 401},
		{"wrong token", "Bearer scrape-token-7f3a9c21e8b5", 401},
		{"token as Basic", basicHeader("metrics", token), 401},
		{"right token", "Bearer " + token, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := send(t, "GET", guarded.URL+"/metrics", tc.authz); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
	if sc := scrapeMetrics(t, guarded, token); sc["latchkey_http_requests_total"] == nil {
		t.Error("no request metrics behind the token")
	}

	t.Run("disabled", func(t *testing.T) {
		off := newTestServerWith(t, func(c *config.Config) { c.Metrics.Enabled = false })
		if code := send(t, "GET", off.URL+"/metrics", ""); code != 404 {
			t.Errorf("/metrics with metrics off: %d, want 404", code)
		}
		if code := send(t, "GET", off.URL+"/healthz", ""); code != 200 {
			t.Errorf("/healthz: %d", code)
		}
	})
}

// TestReadyzRedis: with Redis configured, /readyz reports it; an
// unreachable Redis makes the instance unready only when rate limits fail
// closed, and every decision it could not make is counted.
func TestReadyzRedis(t *testing.T) {
	const down = "redis://127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1"
	tests := []struct {
		name     string
		url      string
		failOpen bool
		status   int
		body     string
		apiCode  int
	}{
		{"unreachable, fail closed", down, false, 503, `{"database":"ok","redis":"unreachable","status":"unavailable"}`, 503},
		{"unreachable, fail open", down, true, 200, `{"database":"ok","redis":"unreachable","status":"degraded"}`, 200},
		{"reachable", os.Getenv("LATCHKEY_TEST_REDIS_URL"), false, 200, `{"database":"ok","redis":"ok","status":"ok"}`, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.url == "" {
				t.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
			}
			s := newTestServerWith(t, func(c *config.Config) {
				c.Redis.URL = tc.url
				c.RateLimits.FailOpen = tc.failOpen
			})
			resp, err := http.Get(s.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || strings.TrimSpace(string(b)) != tc.body {
				t.Fatalf("/readyz: %d %s, want %d %s", resp.StatusCode, b, tc.status, tc.body)
			}

			s.CreateUser(t, "rhea", "rhea-password-123")
			before := scrapeMetrics(t, s, "").value("latchkey_rate_limit_backend_errors_total", map[string]string{})
			if code := send(t, "GET", s.URL+"/user", basicHeader("rhea", "rhea-password-123")); code != tc.apiCode {
				t.Fatalf("API call: %d, want %d", code, tc.apiCode)
			}
			errs := scrapeMetrics(t, s, "").value("latchkey_rate_limit_backend_errors_total", map[string]string{}) - before
			// With Redis down, one HTTP Basic call meets it three times: the
			// guessing throttle's check and its reset after the right
			// password, and the rate-limit decision.
			if want := map[bool]float64{true: 3, false: 0}[tc.url == down]; errs != want {
				t.Errorf("backend errors moved by %v, want %v", errs, want)
			}
		})
	}
}
