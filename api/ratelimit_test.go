package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/ratelimit"
)

func TestRefusalScope(t *testing.T) {
	free := ratelimit.Tier{Name: "free", PerHour: 1000, Burst: 50}
	unlimited := ratelimit.Tier{Name: "enterprise", Burst: 1000}
	tests := []struct {
		name string
		p    Principal
		d    ratelimit.Decision
		want string
	}{
		{"key over its quota", Principal{KeyID: "k", UserID: "u"}, ratelimit.Decision{Tier: free, Remaining: 0, BurstRemaining: 0}, "api_key_quota"},
		{"key over its burst", Principal{KeyID: "k", UserID: "u"}, ratelimit.Decision{Tier: free, Remaining: 900}, "api_key_burst"},
		{"token exchanged from a key", Principal{Kind: KindAPIToken, KeyID: "k", ClientID: "c"}, ratelimit.Decision{Tier: free, Remaining: 3}, "api_key_burst"},
		{"client over its quota", Principal{ClientID: "c"}, ratelimit.Decision{Tier: free}, "client_quota"},
		{"user over the burst of an unlimited tier", Principal{UserID: "u"}, ratelimit.Decision{Tier: unlimited}, "user_burst"},
		{"user over its quota", Principal{UserID: "u"}, ratelimit.Decision{Tier: free}, "user_quota"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusalScope(&tc.p, tc.d); got != tc.want {
				t.Errorf("refusalScope = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDelegatedTokensHaveABudgetPerUser: tokens an app holds for two
// people spend two budgets, so one person's traffic never gets the other
// a 429; the app's own client_credentials token has a third.
func TestDelegatedTokensHaveABudgetPerUser(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tiny := ratelimit.Tier{Name: "tiny", PerHour: 2, Burst: 2}
	h := New(Config{RateLimits: &RateLimits{
		Limiter: ratelimit.NewMemory(time.Now), Tiers: map[string]ratelimit.Tier{"tiny": tiny}, DefaultTier: "tiny",
	}})
	call := func(p *Principal) int {
		w := httptest.NewRecorder()
		c, e := gin.CreateTestContext(w)
		e.GET("/", func(c *gin.Context) { c.Set(principalKey, p) }, h.RateLimit(), func(c *gin.Context) { c.Status(http.StatusOK) })
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		e.HandleContext(c)
		return w.Code
	}
	alice := &Principal{Kind: KindOAuthToken, ClientID: "app", UserID: "alice"}
	bob := &Principal{Kind: KindOAuthToken, ClientID: "app", UserID: "bob"}
	app := &Principal{Kind: KindOAuthToken, ClientID: "app"}
	for i := range 2 {
		if got := call(alice); got != http.StatusOK {
			t.Fatalf("alice's request %d: %d, want 200", i+1, got)
		}
	}
	if got := call(alice); got != http.StatusTooManyRequests {
		t.Fatalf("alice's third request: %d, want 429 (her budget is spent)", got)
	}
	for i := range 2 {
		if got := call(bob); got != http.StatusOK {
			t.Errorf("bob's request %d through the same app: %d, want 200 (alice's traffic must not spend his budget)", i+1, got)
		}
	}
	if got := call(app); got != http.StatusOK {
		t.Errorf("the app's own client_credentials token: %d, want 200 (its own budget)", got)
	}
}
