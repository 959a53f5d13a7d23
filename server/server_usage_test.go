package server_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

// withSmallTier adds tier "small": 20 requests an hour, burst 20, so the
// 21st request of a key in the hour is refused whatever the timing.
func withSmallTier(c *config.Config) {
	c.RateLimits.Tiers = append(c.RateLimits.Tiers, config.Tier{Name: "small", RequestsPerHour: 20, Burst: 20})
}

// sendKnownTraffic sends, with key (tier small, scope users:read only),
// 8 allowed requests, 5 refused by scope, 7 allowed (the hour's budget of
// 20 is then spent: scope refusals spend it too) and 6 refused by the
// rate limit.
func sendKnownTraffic(t *testing.T, base, key string) (allowed, scope, limited int64) {
	t.Helper()
	send := func(n int, path string, want int) {
		for i := range n {
			if code, body, _ := apiCall(t, "GET", base+path, "Bearer "+key, ""); code != want {
				t.Fatalf("GET %s #%d: %d %v, want %d", path, i+1, code, body, want)
			}
		}
	}
	send(8, "/user", http.StatusOK)
	send(5, "/user/keys", http.StatusForbidden)
	send(7, "/user", http.StatusOK)
	send(6, "/user", http.StatusTooManyRequests)
	return 15, 5, 6
}

// keyUsageTotals reads GET /user/keys/{handle}/usage's totals.
func keyUsageTotals(t *testing.T, base, auth, handle, query string) map[string]int64 {
	t.Helper()
	code, body, _ := apiCall(t, "GET", base+"/user/keys/"+handle+"/usage"+query, auth, "")
	if code != http.StatusOK {
		t.Fatalf("usage: %d %v", code, body)
	}
	out := map[string]int64{}
	for k, v := range body["totals"].(map[string]any) {
		out[k] = int64(v.(float64))
	}
	return out
}

// TestUsageExact: a known number of requests through the allowed,
// rate-limited and scope-refused paths reads back exactly from the JSON
// API, the key page (summary, table and headroom) and the operator's
// overview — after a restart in between, which (graceful) loses nothing:
// Close flushes what is pending.
func TestUsageExact(t *testing.T) {
	dir := t.TempDir()
	shared := func(c *config.Config) { withSmallTier(c); c.DataDir = dir }
	s1 := newTestServerWith(t, shared)
	ctx := context.Background()
	admin := &storage.User{ID: "admin-1", Username: "ada", PasswordHash: s1.CreateUser(t, "ada-tmp", "ada-password-123").PasswordHash, Admin: true}
	if err := s1.App.DB().CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	s1.CreateUser(t, "uma", "uma-password-123")
	pw := basicHeader("uma", "uma-password-123")
	key := createTierKey(t, s1, pw, "small", "small", `["users:read"]`)
	allowed, scope, limited := sendKnownTraffic(t, s1.URL, key)
	// An app's usage: its client_credentials token's requests.
	cid, csecret := s1.CreateClient(t, oauth.ClientSpec{Name: "Reporter", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	tok := clientToken(t, s1, cid, csecret, "users:read")
	for range 3 {
		if code, body, _ := apiCall(t, "GET", s1.URL+"/tokens/test", "Bearer "+tok, ""); code != 200 {
			t.Fatalf("tokens/test: %d %v", code, body)
		}
	}

	// Restart: the first server closes (flushing), the second opens the
	// same database.
	s1.Close()
	s1.App.Close()
	s2 := newTestServerWith(t, shared)

	want := map[string]int64{"allowed": allowed, "rate_limited": limited, "scope_denied": scope, "revoked": 0}
	for _, q := range []string{"", "?bucket=day", "?bucket=hour&from=" + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)} {
		got := keyUsageTotals(t, s2.URL, pw, "small", q)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("usage%s %s = %d, want %d (all %v)", q, k, got[k], v, got)
			}
		}
	}
	now := time.Now()
	hour := storage.BucketStart(storage.BucketHour, now)
	rows, err := s2.App.DB().UsageSeries(ctx, storage.UsageClient, cid, storage.BucketHour, hour.Add(-time.Hour), hour.Add(time.Hour))
	if err != nil || len(rows) != 1 || rows[0].Count != 3 || rows[0].Outcome != storage.OutcomeAllowed {
		t.Fatalf("client usage = %+v, %v; want 3 allowed", rows, err)
	}

	// The page states the same numbers: the summary, the table, the headroom.
	b := browser(t)
	s2.Login(t, b, "uma", "uma-password-123")
	_, page := get(t, b, s2.URL+"/keys/small")
	total := allowed + scope + limited
	summary := fmt.Sprintf("%d requests (%d allowed, %d refused by rate limit, %d refused by scope)", total, allowed, limited, scope)
	if !strings.Contains(htmlUnescape(page), summary) {
		t.Errorf("key page lacks %q", summary)
	}
	row := regexp.MustCompile(`<tr><th scope="row">[^<]+</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>`).FindStringSubmatch(page)
	if row == nil || row[1] != fmt.Sprint(allowed) || row[2] != fmt.Sprint(limited) || row[3] != fmt.Sprint(scope) || row[4] != fmt.Sprint(total) {
		t.Errorf("data table row = %v, want %d %d %d %d", row, allowed, limited, scope, total)
	}
	_, day := get(t, b, s2.URL+"/keys/small?usage=day")
	if !strings.Contains(htmlUnescape(day), "by the day: "+summary) {
		t.Errorf("daily view lacks the same summary")
	}

	// The operator's overview: for administrators only, with the same counts.
	if code, _, _ := apiCall(t, "GET", s2.URL+"/v1/admin/overview", pw, ""); code != http.StatusForbidden {
		t.Errorf("overview for a non-admin: %d, want 403", code)
	}
	code, ov, _ := apiCall(t, "GET", s2.URL+"/v1/admin/overview", basicHeader("ada", "ada-password-123"), "")
	if code != http.StatusOK {
		t.Fatalf("overview: %d %v", code, ov)
	}
	reasons := map[string]float64{}
	for _, r := range ov["refusals"].([]any) {
		m := r.(map[string]any)
		reasons[m["reason"].(string)] = m["count"].(float64)
	}
	if reasons["rate_limited"] != float64(limited) || reasons["scope_denied"] != float64(scope) {
		t.Errorf("overview refusals = %v", reasons)
	}
	top := ov["busiest_keys"].([]any)
	if len(top) != 1 || top[0].(map[string]any)["name"] != "small" || top[0].(map[string]any)["total"] != float64(total) || top[0].(map[string]any)["owner"] != "uma" {
		t.Errorf("busiest keys = %v", top)
	}
	clients := ov["busiest_clients"].([]any)
	if len(clients) != 1 || clients[0].(map[string]any)["name"] != "Reporter" || clients[0].(map[string]any)["total"] != float64(3) {
		t.Errorf("busiest clients = %v", clients)
	}
	// Uma's sign-in above is counted (the flush is polled, not slept on).
	deadline := time.Now().Add(3 * usage.FlushInterval)
	for {
		_, ov, _ = apiCall(t, "GET", s2.URL+"/v1/admin/overview", basicHeader("ada", "ada-password-123"), "")
		var signins float64
		for _, p := range ov["signins"].([]any) {
			signins += p.(map[string]any)["signins"].(float64)
		}
		if signins == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-ins in the overview = %v, want 1", signins)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ab := browser(t)
	s2.Login(t, ab, "ada", "ada-password-123")
	if resp, body := get(t, ab, s2.URL+"/admin"); resp.StatusCode != 200 || !strings.Contains(body, "Busiest API keys") || !strings.Contains(body, `href="/admin"`) {
		t.Errorf("/admin for the admin: %d", resp.StatusCode)
	}
	if resp, _ := get(t, b, s2.URL+"/admin"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/admin for uma: %d, want 404", resp.StatusCode)
	}

	// The headroom on the page is the figure of the key's last
	// X-RateLimit-Remaining (the in-memory limiter restarted with the
	// process; Redis would carry it over).
	code, _, h := apiCall(t, "GET", s2.URL+"/v1/admin/overview", "Bearer "+key, "")
	if code != http.StatusForbidden {
		t.Errorf("overview with an API key: %d, want 403", code)
	}
	_, page = get(t, b, s2.URL+"/keys/small")
	if want := `id="limit-remaining">` + h.Get("X-RateLimit-Remaining") + `<`; h.Get("X-RateLimit-Remaining") == "" || !strings.Contains(page, want) ||
		!strings.Contains(page, "Tier <strong>small</strong>") || !strings.Contains(page, "X-RateLimit-Reset "+h.Get("X-RateLimit-Reset")) {
		t.Errorf("key page headroom: want %s left and reset %s of tier small", h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"))
	}
}

// TestKeyUsageBadRange: a range that cannot be served is a documented 400.
func TestKeyUsageBadRange(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "bo", "bo-password-1234")
	pw := basicHeader("bo", "bo-password-1234")
	if code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"k"}`); code != 201 {
		t.Fatalf("create: %d %v", code, k)
	}
	for _, q := range []string{"?bucket=minute", "?from=yesterday", "?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
		"?bucket=hour&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		code, body, _ := apiCall(t, "GET", s.URL+"/user/keys/k/usage"+q, pw, "")
		if code != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.HasPrefix(body["message"].(string), "The usage range is not valid: ") {
			t.Errorf("%s: %d %v", q, code, body)
		}
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/user/keys/nope/usage", pw, ""); code != http.StatusNotFound {
		t.Errorf("unknown key: %d", code)
	}
}
