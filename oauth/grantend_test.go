package oauth

import (
	"testing"
	"time"

	"github.com/ory/fosite"
)

// TestGrantEnd (issue 10, key lineage): a person's grant yields tokens
// until its access token expires when it holds no refresh token, until
// the end of its refresh family when it does, and without a bound in
// time only when no family lifetime is configured. Keys an app creates
// with the grant's tokens never outlive that end.
func TestGrantEnd(t *testing.T) {
	granted := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tokenExp := granted.Add(time.Hour)
	tests := []struct {
		name     string
		scopes   []string
		family   []string
		lifetime time.Duration
		want     time.Time
	}{
		{"no refresh token: the access token's end", []string{"keys:write"}, nil, 90 * 24 * time.Hour, tokenExp},
		{"refresh family: its end", []string{"keys:write", "offline_access"}, nil, 90 * 24 * time.Hour, granted.Add(90 * 24 * time.Hour)},
		{"narrowed by refresh: the family's scope decides", []string{"keys:write"}, []string{"keys:write", "offline_access"}, time.Hour * 24, granted.Add(24 * time.Hour)},
		{"no family lifetime: no bound", []string{"offline_access"}, nil, 0, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Provider{cfg: Config{RefreshFamilyLifetime: tc.lifetime}}
			sess := NewSession("u1")
			sess.GrantedAt = granted
			sess.FamilyScope = tc.family
			sess.SetExpiresAt(fosite.AccessToken, tokenExp)
			ar := fosite.NewAccessRequest(sess)
			for _, s := range tc.scopes {
				ar.GrantScope(s)
			}
			if got := p.grantEnd(ar, sess); !got.Equal(tc.want) {
				t.Fatalf("grant end %v, want %v", got, tc.want)
			}
		})
	}
}
