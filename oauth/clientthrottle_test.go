package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchkey/latchkey/storage"
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

// flakyClients is the storage with client lookups failing while down is
// set, as they do while the database is unreachable or times out.
type flakyClients struct {
	*storage.DB
	down atomic.Bool
}

var errClientsDown = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")

func (f *flakyClients) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if f.down.Load() {
		return nil, errClientsDown
	}
	return f.DB.GetClient(ctx, id)
}

// TestClientAuthStorageFailuresAreNotCounted: a client lookup that fails
// on the server's side (the database is down or timed out) is no failed
// client authentication. fosite answers it invalid_client, and it was
// counted against the caller's IP: a database hiccup locked every client
// that called during it — the right credentials included, and every
// client behind the same address — out of the token, revocation, PAR and
// device authorization endpoints for the throttle's window after the
// database was back. Now only the caller's own failures count.
func TestClientAuthStorageFailuresAreNotCounted(t *testing.T) {
	key := mustRSA(t)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "c1", Algorithm: "RS256", Use: "sig"}}})
	grants := []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeDeviceCode}
	_, challenge := pkcePair()
	basic := func(c testClient) testClient { return c }
	post := func(testClient) testClient { return testClient{} }
	secretPost := func(c testClient, f url.Values) url.Values {
		f = maps.Clone(f)
		f.Set("client_id", c.ID)
		f.Set("client_secret", c.Secret)
		return f
	}
	for _, tc := range []struct {
		name, path string
		handler    func(*Provider) http.HandlerFunc
		spec       ClientSpec
		// header and form present the client's right credentials.
		header func(testClient) testClient
		form   func(p *Provider, c testClient) url.Values
		ok     int
	}{
		{"token basic", "/oauth/token", func(p *Provider) http.HandlerFunc { return p.Token }, ClientSpec{GrantTypes: grants}, basic,
			func(*Provider, testClient) url.Values { return url.Values{"grant_type": {"client_credentials"}} }, http.StatusOK},
		{"token post", "/oauth/token", func(p *Provider) http.HandlerFunc { return p.Token }, ClientSpec{GrantTypes: grants}, post,
			func(_ *Provider, c testClient) url.Values {
				return secretPost(c, url.Values{"grant_type": {"client_credentials"}})
			}, http.StatusOK},
		{"token private_key_jwt", "/oauth/token", func(p *Provider) http.HandlerFunc { return p.Token },
			ClientSpec{GrantTypes: []string{"client_credentials"}, AuthMethod: AuthMethodPrivateKeyJWT, JWKS: string(set)}, post,
			func(p *Provider, c testClient) url.Values {
				return assertionGrant(c.ID, signJWT(t, jose.RS256, key, "c1", assertionClaimsFor(p, c.ID, nil), ""))
			}, http.StatusOK},
		{"revoke", "/oauth/revoke", func(p *Provider) http.HandlerFunc { return p.Revoke }, ClientSpec{GrantTypes: grants}, basic,
			func(*Provider, testClient) url.Values { return url.Values{"token": {"ory_at_unknown.unknown"}} }, http.StatusOK},
		{"par", "/oauth/par", func(p *Provider) http.HandlerFunc { return p.PAR }, ClientSpec{GrantTypes: grants}, basic,
			func(*Provider, testClient) url.Values {
				return url.Values{"response_type": {"code"}, "redirect_uri": {flowRedirect}, "scope": {"openid"},
					"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			}, http.StatusCreated},
		{"device", "/oauth/device_authorization", func(p *Provider) http.HandlerFunc { return p.DeviceAuthorization }, ClientSpec{GrantTypes: grants}, basic,
			func(*Provider, testClient) url.Values { return url.Values{"scope": {"openid"}} }, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var store *flakyClients
			p, db := newTestProviderWith(t, func(cfg *Config) {
				cfg.ClientAuthFailures = throttle.New(3, time.Minute, time.Now)
			}, func(db *storage.DB) Backend { store = &flakyClients{DB: db}; return store })
			c := registerClient(t, p, db, tc.spec)
			send := func() (int, string) {
				r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.form(p, c).Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if h := tc.header(c); h.ID != "" {
					r.SetBasicAuth(url.QueryEscape(h.ID), url.QueryEscape(h.Secret))
				}
				w := httptest.NewRecorder()
				tc.handler(p)(w, r)
				return w.Code, w.Body.String()
			}
			store.down.Store(true)
			for i := range 5 {
				if status, body := send(); status == tc.ok || status == http.StatusTooManyRequests {
					t.Fatalf("request %d while the database is down: %d %s", i, status, body)
				}
			}
			store.down.Store(false)
			if status, body := send(); status != tc.ok {
				t.Fatalf("right credentials once the database is back: %d %s, want %d", status, body, tc.ok)
			}
		})
	}
}

// TestIntrospectionStorageFailuresAreNotCounted: the same for the
// introspection endpoint's own counter.
func TestIntrospectionStorageFailuresAreNotCounted(t *testing.T) {
	var store *flakyClients
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.IntrospectFailures = throttle.New(3, time.Minute, time.Now)
	}, func(db *storage.DB) Backend { store = &flakyClients{DB: db}; return store })
	app := registerClient(t, p, db, ClientSpec{})
	at := str(tokens(t, p, app, "alice", "openid offline_access"), "access_token")
	store.down.Store(true)
	for i := range 5 {
		if status, body, _ := post(t, p.Introspect, "/oauth/introspect", app, url.Values{"token": {at}}); status == http.StatusOK || status == http.StatusTooManyRequests {
			t.Fatalf("introspection %d while the database is down: %d %v", i, status, body)
		}
	}
	store.down.Store(false)
	if status, body, _ := post(t, p.Introspect, "/oauth/introspect", app, url.Values{"token": {at}}); status != http.StatusOK || body["active"] != true {
		t.Fatalf("right credentials once the database is back: %d %v", status, body)
	}
}
