package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

// withTinyTier adds tier "tiny": 3 requests per hour, burst 3. The quota
// (one request per 1200 s) binds, so the figures do not depend on timing.
func withTinyTier(c *config.Config) {
	c.RateLimits.Tiers = append(c.RateLimits.Tiers, config.Tier{Name: "tiny", RequestsPerHour: 3, Burst: 3})
}

func createTierKey(t *testing.T, s *testServer, pw, handle, tier, scopes string) string {
	t.Helper()
	code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, fmt.Sprintf(`{"handle":%q,"tier":%q,"scopes":%s}`, handle, tier, scopes))
	if code != 201 {
		t.Fatalf("create %s: %d %v", handle, code, k)
	}
	return k["key"].(string)
}

func TestAPIRateLimitHeadersAnd429(t *testing.T) {
	s := newTestServerWith(t, withTinyTier)
	s.CreateUser(t, "rita", "rita-password-123")
	pw := basicHeader("rita", "rita-password-123")
	key := createTierKey(t, s, pw, "tiny", "tiny", `["users:read"]`)

	start := time.Now()
	for i := 1; i <= 3; i++ {
		code, _, h := apiCall(t, "GET", s.URL+"/user", "Bearer "+key, "")
		if code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
		want := map[string]string{
			"X-RateLimit-Limit":     "3",
			"X-RateLimit-Remaining": strconv.Itoa(3 - i),
			"RateLimit-Policy":      `"tiny";q=3;w=3600, "tiny-burst";q=3;w=1`,
			"Retry-After":           "",
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, h.Get(k), v)
			}
		}
		// Full again i×1200 s after the first request.
		reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		lo, hi := start.Add(time.Duration(i)*1200*time.Second).Unix(), time.Now().Add(time.Duration(i)*1200*time.Second).Unix()+1
		if reset < lo || reset > hi {
			t.Errorf("request %d: X-RateLimit-Reset %d not in [%d, %d]", i, reset, lo, hi)
		}
		if !strings.HasPrefix(h.Get("RateLimit"), fmt.Sprintf(`"tiny";r=%d;t=`, 3-i)) {
			t.Errorf("request %d: RateLimit %q", i, h.Get("RateLimit"))
		}
	}
	// The budget is the credential's, whatever the endpoint.
	code, _, _ := apiCall(t, "POST", s.URL+"/user/keys", "Bearer "+key, `{"handle":"x"}`)
	if code != 429 {
		t.Fatalf("4th request: %d, want 429", code)
	}
	code, body, h := apiCall(t, "GET", s.URL+"/user", "Bearer "+key, "")
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if code != 429 || ra < 1198 || ra > 1200 || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("refusal: %d Retry-After %q headers %v", code, h.Get("Retry-After"), h)
	}
	if body["error"] != "rate_limit_exceeded" || body["message"] != fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", ra) || len(body) != 2 {
		t.Fatalf("refusal body %v (Retry-After %d)", body, ra)
	}
	// Another credential of the same user has its own budget.
	if code, _, h := apiCall(t, "GET", s.URL+"/user", pw, ""); code != 200 || h.Get("X-RateLimit-Limit") != "1000" || h.Get("X-RateLimit-Remaining") == "" {
		t.Fatalf("password credential: %d %v", code, h)
	}
}

func TestAPIRateLimitAfterAuthErrors(t *testing.T) {
	s := newTestServerWith(t, withTinyTier)
	s.CreateUser(t, "omar", "omar-password-123")
	pw := basicHeader("omar", "omar-password-123")
	key := createTierKey(t, s, pw, "ro", "tiny", `["users:read"]`)
	code, _, h := apiCall(t, "POST", s.URL+"/user/keys", "Bearer "+key, `{"handle":"x"}`)
	if code != 403 || h.Get("X-RateLimit-Remaining") != "2" || h.Get("RateLimit") == "" {
		t.Fatalf("403 after authentication: %d %v", code, h)
	}
	// Unauthenticated answers carry none (there is no credential to count).
	if code, _, h := apiCall(t, "GET", s.URL+"/user", "Bearer lk_live_nope", ""); code != 401 || h.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("401: %d %v", code, h)
	}
}

// TestAPITokenSharesKeyBudget: a token from /tokens/generate spends its
// key's budget, and /v1/keys/verify reports it without spending.
func TestAPITokenSharesKeyBudget(t *testing.T) {
	s := newTestServerWith(t, withTinyTier)
	s.CreateUser(t, "tess", "tess-password-123")
	pw := basicHeader("tess", "tess-password-123")
	key := createTierKey(t, s, pw, "tiny", "tiny", `["users:read"]`)
	verifier := rsServerClient(t, s, true)

	verify := func() map[string]any {
		t.Helper()
		code, v, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", verifier, fmt.Sprintf(`{"key":%q}`, key))
		if code != 200 || v["valid"] != true {
			t.Fatalf("verify: %d %v", code, v)
		}
		rl, _ := v["ratelimit"].(map[string]any)
		return rl
	}
	if rl := verify(); rl["limit"] != 3.0 || rl["remaining"] != 3.0 || rl["reset"] == nil {
		t.Fatalf("fresh key ratelimit %v", rl)
	}
	code, tok, h := apiCall(t, "POST", s.URL+"/tokens/generate", "Bearer "+key, "")
	if code != 200 || h.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("generate: %d %v", code, h)
	}
	token := "Bearer " + tok["token"].(string)
	code, _, h = apiCall(t, "GET", s.URL+"/user", token, "")
	if code != 200 || h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("token request: %d %v", code, h)
	}
	if code, _, h = apiCall(t, "GET", s.URL+"/user", "Bearer "+key, ""); code != 200 || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("key request: %d %v", code, h)
	}
	if code, _, _ = apiCall(t, "GET", s.URL+"/user", token, ""); code != 429 {
		t.Fatalf("token past the key's budget: %d", code)
	}
	for range 2 { // Peek spends nothing
		if rl := verify(); rl["limit"] != 3.0 || rl["remaining"] != 0.0 {
			t.Fatalf("spent key ratelimit %v", rl)
		}
	}
}

// TestAPIRateLimitRedisDown: with Redis unreachable, rate_limits.fail_open
// decides: false refuses with 503 and the documented body, true lets the
// request through without rate-limit headers.
func TestAPIRateLimitRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		code     int
	}{
		{"fail closed", false, 503},
		{"fail open", true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServerWith(t, func(c *config.Config) {
				c.Redis.URL = "redis://127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1"
				c.RateLimits.FailOpen = tc.failOpen
			})
			s.CreateUser(t, "uma", "uma-password-123")
			code, body, h := apiCall(t, "GET", s.URL+"/user", basicHeader("uma", "uma-password-123"), "")
			if code != tc.code || h.Get("X-RateLimit-Limit") != "" {
				t.Fatalf("%d %v %v", code, body, h)
			}
			if !tc.failOpen && (body["error"] != "unavailable" || body["message"] == "") {
				t.Fatalf("body %v", body)
			}
			// The token endpoint follows the same setting.
			id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
			req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, sec)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{false: 503, true: 200}[tc.failOpen]; resp.StatusCode != want {
				t.Fatalf("token endpoint: %d, want %d", resp.StatusCode, want)
			}
		})
	}
}

// TestAPIRateLimitSharedRedis: with redis.url set (real Redis, from
// LATCHKEY_TEST_REDIS_URL) the server limits through Redis with the same
// figures. Key ids are random, so runs never share state. (Two limiters on
// one Redis enforcing one budget: ratelimit.TestRedisTwoInstances.)
func TestAPIRateLimitSharedRedis(t *testing.T) {
	url := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if url == "" {
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the shared-Redis API test")
	}
	s := newTestServerWith(t, func(c *config.Config) {
		c.Redis.URL = url
		withTinyTier(c)
	})
	s.CreateUser(t, "vic", "vic-password-123")
	key := createTierKey(t, s, basicHeader("vic", "vic-password-123"), "tiny", "tiny", `["users:read"]`)
	for i := 1; i <= 4; i++ {
		code, _, h := apiCall(t, "GET", s.URL+"/user", "Bearer "+key, "")
		if (i <= 3 && (code != 200 || h.Get("X-RateLimit-Remaining") != strconv.Itoa(3-i))) || (i == 4 && code != 429) {
			t.Fatalf("request %d: %d %v", i, code, h)
		}
	}
}

// TestCredentialFailuresPerIP: failed key or token authentications (e.g. on
// /tokens/generate) are throttled per source IP at
// rate_limits.token_per_minute; the invalid answers a resource server gets
// at /v1/keys/verify (its callers' keys) are not counted.
func TestCredentialFailuresPerIP(t *testing.T) {
	s := newTestServerWith(t, func(c *config.Config) { c.RateLimits.TokenPerMinute = 3 })
	s.CreateUser(t, "wes", "wes-password-123")
	pw := basicHeader("wes", "wes-password-123")
	verifier := rsServerClient(t, s, true)
	good := createTierKey(t, s, pw, "good", "free", `["users:read"]`)
	bad := good[:len(good)-12] + "AAAAAA" + good[len(good)-6:] // well-formed shape, unknown key

	// A resource server's invalid verifications are not failures of its own.
	for i := 1; i <= 4; i++ {
		if code, v, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", verifier, fmt.Sprintf(`{"key":%q}`, "lk_live_unknown")); code != 200 || v["valid"] != false {
			t.Fatalf("verify %d: %d %v", i, code, v)
		}
	}
	for i := 1; i <= 3; i++ {
		if code, _, _ := apiCall(t, "POST", s.URL+"/tokens/generate", "Bearer "+bad, ""); code != 401 {
			t.Fatalf("bad key %d: %d", i, code)
		}
	}
	code, body, h := apiCall(t, "POST", s.URL+"/tokens/generate", "Bearer "+good, "")
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if code != 429 || ra < 1 || ra > 60 || body["message"] != fmt.Sprintf("Too many failed attempts. Try again in %d seconds.", ra) {
		t.Fatalf("after 3 failures from this IP: %d %v %v", code, body, h)
	}
}

// TestTokenEndpointPerClient: /oauth/token allows token_per_minute
// requests per authenticated client (N back-to-back, then one every
// minute/N), answering 429 with Retry-After; other clients are unaffected.
func TestTokenEndpointPerClient(t *testing.T) {
	s := newTestServerWith(t, func(c *config.Config) { c.RateLimits.TokenPerMinute = 3 })
	spec := oauth.ClientSpec{Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}}
	id, sec := s.CreateClient(t, spec)
	id2, sec2 := s.CreateClient(t, spec)
	token := func(id, sec string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials&scope=users:read"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, sec)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header
	}
	for i := 1; i <= 3; i++ {
		if code, m, _ := token(id, sec); code != 200 {
			t.Fatalf("token %d: %d %v", i, code, m)
		}
	}
	code, m, h := token(id, sec)
	ra, _ := strconv.Atoi(h.Get("Retry-After"))
	if code != 429 || ra < 19 || ra > 20 || m["error"] != "rate_limit_exceeded" ||
		m["error_description"] != fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", ra) {
		t.Fatalf("4th token: %d %v Retry-After %q", code, m, h.Get("Retry-After"))
	}
	if code, m, _ := token(id2, sec2); code != 200 {
		t.Fatalf("other client: %d %v", code, m)
	}
}

// TestTwoInstancesShareOneBudget: two server instances on one database and
// one Redis (as behind a load balancer) enforce one combined budget under
// concurrent load — within 1 %, here exactly.
func TestTwoInstancesShareOneBudget(t *testing.T) {
	redisURL := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the two-instance rate-limit test")
	}
	shared := t.TempDir() // one SQLite database and one set of secrets for both instances
	const budget = 200
	cfg := func(c *config.Config) {
		c.DataDir = shared
		c.Redis.URL = redisURL
		c.RateLimits.Tiers = append(c.RateLimits.Tiers, config.Tier{Name: "shared", RequestsPerHour: budget, Burst: budget})
	}
	a := newTestServerWith(t, cfg)
	b := newTestServerWith(t, cfg)
	a.CreateUser(t, "twin", "twin-password-123")
	key := createTierKey(t, a, basicHeader("twin", "twin-password-123"), "twins", "shared", `["users:read"]`)

	var ok, refused, other atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(base string) {
			defer wg.Done()
			for i := 0; i < 25; i++ { // 32 × 25 = 800 requests, 4 × the budget
				req, _ := http.NewRequest("GET", base+"/v1/users/me", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}(map[bool]string{true: a.URL, false: b.URL}[g%2 == 0])
	}
	wg.Wait()
	if other.Load() != 0 || ok.Load()+refused.Load() != 800 {
		t.Fatalf("ok %d, refused %d, other %d", ok.Load(), refused.Load(), other.Load())
	}
	if n := ok.Load(); n < budget*99/100 || n > budget*101/100 {
		t.Fatalf("%d requests allowed across two instances, want %d ± 1 %%", n, budget)
	}
}

// TestClientTier: an OAuth client acting for itself (client_credentials)
// spends the budget of the tier it was registered with.
func TestClientTier(t *testing.T) {
	s := newTestServerWith(t, withTinyTier)
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "tiny-bot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, Tier: "tiny"})
	auth := "Bearer " + clientToken(t, s, id, sec, "keys:verify")
	for i := 1; i <= 4; i++ {
		code, _, h := apiCall(t, "GET", s.URL+"/tokens/test", auth, "")
		if i <= 3 && (code != 200 || h.Get("X-RateLimit-Limit") != "3") || i == 4 && code != 429 {
			t.Fatalf("request %d: %d %v", i, code, h)
		}
	}
}

// TestTwoInstancesShareGuessingThrottle: failed password checks at two
// instances on one Redis add up, so spreading a guess over the instances
// gains nothing; a deployment with another redis.key_prefix on the same
// Redis keeps its own counts.
func TestTwoInstancesShareGuessingThrottle(t *testing.T) {
	redisURL := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the shared guessing-throttle test")
	}
	shared := t.TempDir()
	prefix := "latchkey-test-" + uuid.NewString()[:8] + ":"
	cfg := func(prefix string) func(c *config.Config) {
		return func(c *config.Config) {
			c.DataDir = shared
			c.Redis.URL = redisURL
			c.Redis.KeyPrefix = prefix
			c.RateLimits.LoginPerMinute = 3
		}
	}
	a := newTestServerWith(t, cfg(prefix))
	b := newTestServerWith(t, cfg(prefix))
	other := newTestServerWith(t, cfg(prefix+"other:"))
	a.CreateUser(t, "vera", "vera-password-123")
	wrong, right := basicHeader("vera", "not-her-password"), basicHeader("vera", "vera-password-123")

	for i, s := range []*testServer{a, b, a} { // 3 failures over two instances
		if code := send(t, "GET", s.URL+"/user", wrong); code != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d: %d, want 401", i+1, code)
		}
	}
	for name, s := range map[string]*testServer{"A": a, "B": b} {
		if code := send(t, "GET", s.URL+"/user", right); code != http.StatusTooManyRequests {
			t.Errorf("instance %s after 3 failures spread over A and B: %d, want 429 (the throttle is shared)", name, code)
		}
	}
	if code := send(t, "GET", other.URL+"/user", right); code != http.StatusOK {
		t.Errorf("a deployment with another key prefix: %d, want 200 (its own counts)", code)
	}
}
