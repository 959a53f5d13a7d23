package api

import (
	"testing"

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
