package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/throttle"
)

// TestClientAuthFailuresAreThrottled (SPEC §3.6: the token endpoint is
// protected against guessing): wrong client secrets at the token,
// revocation, PAR and device authorization endpoints count against the
// caller's IP in one counter; past the limit every one of those endpoints
// answers 429 with Retry-After to that IP — the right secret included —
// while another IP is served. Errors other than invalid_client (a wrong
// grant with the right secret) do not count.
func TestClientAuthFailuresAreThrottled(t *testing.T) {
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.ClientAuthFailures = throttle.New(3, time.Minute, time.Now)
	}, nil)
	app := registerClient(t, p, db, ClientSpec{GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeDeviceCode}})
	wrong := testClient{ID: app.ID, Secret: app.Secret + "x"}
	cc := url.Values{"grant_type": {"client_credentials"}}

	// invalid_grant with the right secret: not a guess at the secret.
	for range 5 {
		if status, body, _ := post(t, p.Token, "/oauth/token", app, url.Values{"grant_type": {"authorization_code"},
			"code": {"ory_ac_guess.guess"}, "redirect_uri": {flowRedirect}}); status != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
			t.Fatalf("wrong code: %d %v", status, body)
		}
	}
	if status, body, _ := post(t, p.Token, "/oauth/token", app, cc); status != http.StatusOK {
		t.Fatalf("after invalid_grant answers the client is refused: %d %v", status, body)
	}

	// Three wrong secrets, at two endpoints and by an unknown client.
	for _, f := range []struct {
		h    http.HandlerFunc
		path string
		c    testClient
		form url.Values
	}{
		{p.Token, "/oauth/token", wrong, cc},
		{p.Revoke, "/oauth/revoke", wrong, url.Values{"token": {"ory_at_x.y"}}},
		{p.Token, "/oauth/token", testClient{ID: "nobody", Secret: "x"}, cc},
	} {
		if status, body, h := post(t, f.h, f.path, f.c, f.form); status != http.StatusUnauthorized || str(body, "error") != "invalid_client" || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s with a wrong secret: %d %v, challenge %q", f.path, status, body, h.Get("WWW-Authenticate"))
		}
	}

	tokenOf := func(testClient) string { return "" }
	for _, ep := range append(clientAuthEndpoints(t, p, tokenOf), struct {
		name, path string
		handler    http.HandlerFunc
		form       func(testClient) url.Values
		ok         int
	}{"device", "/oauth/device_authorization", p.DeviceAuthorization, func(testClient) url.Values { return url.Values{"scope": {"openid"}} }, http.StatusOK}) {
		if ep.name == "introspect" {
			continue // its own counter (TestIntrospectionFailuresAreThrottled)
		}
		t.Run(ep.name, func(t *testing.T) {
			status, body, h := post(t, ep.handler, ep.path, app, ep.form(app))
			if status != http.StatusTooManyRequests || str(body, "error") != "rate_limit_exceeded" || h.Get("Retry-After") == "" {
				t.Fatalf("blocked IP with the right secret: %d %v Retry-After %q, want 429", status, body, h.Get("Retry-After"))
			}
			r := httptest.NewRequest(http.MethodPost, ep.path, strings.NewReader(ep.form(app).Encode()))
			r.RemoteAddr = "198.51.100.7:4000"
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(url.QueryEscape(app.ID), url.QueryEscape(app.Secret))
			w := httptest.NewRecorder()
			ep.handler(w, r)
			var out map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &out)
			if w.Code != ep.ok {
				t.Fatalf("another IP: %d %v, want %d", w.Code, out, ep.ok)
			}
		})
	}
}
