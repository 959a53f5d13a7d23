package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRefreshRevokedOrReused (issue 12 item 6): an inactive refresh token
// is invalid_grant (RFC 6749 §5.2) whether it was rotated away or its
// grant was revoked, but error_description says which — a revoked grant
// used to be answered "already used", sending developers hunting for a
// double refresh that never happened.
func TestRefreshRevokedOrReused(t *testing.T) {
	const reused, revoked = "already used", "was revoked"
	for _, tc := range []struct {
		name string
		// prepare returns the refresh token to present.
		prepare func(t *testing.T, p *Provider, c testClient, rt string) string
		want    string
	}{
		{"rotated token presented again", func(t *testing.T, p *Provider, c testClient, rt string) string {
			mustRefresh(t, p, c, rt)
			return rt
		}, reused},
		{"token revoked at /oauth/revoke", func(t *testing.T, p *Provider, c testClient, rt string) string {
			w := sendAs(t, p.Revoke, "/oauth/revoke", c, AuthMethodBasic, url.Values{"token": {rt}})
			if w.Code != http.StatusOK {
				t.Fatalf("revoke: %d %s", w.Code, w.Body.String())
			}
			return rt
		}, revoked},
		{"the person revoked the app", func(t *testing.T, p *Provider, c testClient, rt string) string {
			if err := p.store.db.RevokeGrants(t.Context(), "alice", c.ID); err != nil {
				t.Fatal(err)
			}
			return rt
		}, revoked},
		{"current token of a rotated grant, then the app revoked", func(t *testing.T, p *Provider, c testClient, rt string) string {
			next := mustRefresh(t, p, c, rt)
			if err := p.store.db.RevokeGrants(t.Context(), "alice", c.ID); err != nil {
				t.Fatal(err)
			}
			return next
		}, revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, db := newTestProvider(t)
			c := registerClient(t, p, db, ClientSpec{})
			rt := str(tokens(t, p, c, "alice", "openid offline_access"), "refresh_token")
			present := tc.prepare(t, p, c, rt)
			status, body := refreshWith(t, p, c, present, "")
			desc := str(body, "error_description")
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(desc, tc.want) {
				t.Fatalf("%d %v, want invalid_grant saying %q", status, body, tc.want)
			}
			other := map[string]string{reused: revoked, revoked: reused}[tc.want]
			if strings.Contains(desc, other) {
				t.Fatalf("error_description %q also says %q", desc, other)
			}
		})
	}
}

// mustRefresh refreshes rt and returns the new refresh token.
func mustRefresh(t *testing.T, p *Provider, c testClient, rt string) string {
	t.Helper()
	status, body := refreshWith(t, p, c, rt, "")
	if status != http.StatusOK || str(body, "refresh_token") == "" {
		t.Fatalf("refresh: %d %v", status, body)
	}
	return str(body, "refresh_token")
}

// TestClientCredentialsWithoutScopeOmitsScope (issue 12 item 6): a
// client_credentials request without scope got "scope": "" — an empty
// string is no scope (RFC 6749 §3.3), and §5.1 lets the server omit scope
// when it is the one requested. A request with a scope still gets it.
func TestClientCredentialsWithoutScopeOmitsScope(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"client_credentials"}})
	status, body, _ := post(t, p.Token, "/oauth/token", c, url.Values{"grant_type": {"client_credentials"}})
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	if v, ok := body["scope"]; ok {
		t.Errorf("scope = %q in %v, want it omitted", v, body)
	}
	status, body, _ = post(t, p.Token, "/oauth/token", c, url.Values{"grant_type": {"client_credentials"}, "scope": {"users:read"}})
	if status != http.StatusOK || body["scope"] != "users:read" {
		t.Errorf("with a scope: %d %v, want scope users:read", status, body)
	}
}
