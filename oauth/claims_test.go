package oauth

import (
	"maps"
	"testing"

	"github.com/ory/fosite"
)

func TestScopeClaims(t *testing.T) {
	const username, name, email = "alice", "Alice Liddell", "alice@example.com"
	tests := []struct {
		name                      string
		scopes                    fosite.Arguments
		username, fullName, email string
		want                      map[string]any
	}{
		{"openid only", fosite.Arguments{"openid"}, username, name, email, map[string]any{}},
		{"no scopes", nil, username, name, email, map[string]any{}},
		{"profile", fosite.Arguments{"openid", "profile"}, username, name, email,
			map[string]any{"preferred_username": username, "name": name}},
		{"profile without a name", fosite.Arguments{"openid", "profile"}, username, "", email,
			map[string]any{"preferred_username": username}},
		{"email", fosite.Arguments{"openid", "email"}, username, name, email,
			map[string]any{"email": email}},
		{"email without an address", fosite.Arguments{"openid", "email"}, username, name, "",
			map[string]any{}},
		{"profile and email", fosite.Arguments{"openid", "profile", "email", "offline_access"}, username, name, email,
			map[string]any{"preferred_username": username, "name": name, "email": email}},
		{"other scopes release nothing", fosite.Arguments{"keys:read", "users:read"}, username, name, email,
			map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scopeClaims(tc.scopes, tc.username, tc.fullName, tc.email)
			if !maps.Equal(got, tc.want) {
				t.Errorf("scopeClaims(%v) = %v, want %v", tc.scopes, got, tc.want)
			}
		})
	}
}
