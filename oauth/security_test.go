package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/throttle"
)

// Regression tests for the OAuth findings of the security review (issue 10).

// TestCodeIssuedBeforeRevokeAccessCannotBeRedeemed: "Revoke access" on
// /authorized (storage RevokeGrants) ends a code issued before it, with its
// PKCE and OpenID Connect sessions; redeeming it is invalid_grant and
// issues nothing. Other people's codes for the app are untouched.
func TestCodeIssuedBeforeRevokeAccessCannotBeRedeemed(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	code, verifier := grantCode(t, p, c, "alice", "openid offline_access")
	other, otherVerifier := grantCode(t, p, c, "bob", "openid offline_access")

	if err := db.RevokeGrants(t.Context(), "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	status, body := exchange(t, p, c, code, verifier)
	if status != http.StatusBadRequest || str(body, "error") != "invalid_grant" || body["access_token"] != nil {
		t.Fatalf("code issued before the revocation: %d %v, want 400 invalid_grant", status, body)
	}
	sig := p.strategy.AuthorizeCodeSignature(t.Context(), code)
	for _, kind := range []storage.Kind{storage.KindCode, storage.KindPKCE, storage.KindOIDC} {
		if _, err := db.GetRequest(t.Context(), kind, sig); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s record of the revoked code: %v, want not found", kind, err)
		}
	}
	if status, body := exchange(t, p, c, other, otherVerifier); status != http.StatusOK {
		t.Fatalf("bob's code: %d %v, want 200", status, body)
	}
}

// raceBackend deletes every code of (subject, client) — as a revocation
// committed just before — when the token endpoint marks a code used.
type raceBackend struct {
	*storage.DB
	subject, client string
}

func (b *raceBackend) DeactivateRequest(ctx context.Context, kind storage.Kind, sig string) error {
	if kind == storage.KindCode {
		if err := b.RevokeGrants(ctx, b.subject, b.client); err != nil {
			return err
		}
	}
	return b.DB.DeactivateRequest(ctx, kind, sig)
}

// TestRevokeRacingCodeExchangeIsInvalidGrant: a revocation that lands
// between fosite's read of the code and its write answers invalid_grant
// (RFC 6749 §5.2), never 500 server_error.
func TestRevokeRacingCodeExchangeIsInvalidGrant(t *testing.T) {
	var rb *raceBackend
	p, db := newTestProviderWith(t, nil, func(db *storage.DB) Backend { rb = &raceBackend{DB: db}; return rb })
	c := registerClient(t, p, db, ClientSpec{})
	rb.subject, rb.client = "alice", c.ID
	code, verifier := grantCode(t, p, c, "alice", "openid offline_access")
	status, body := exchange(t, p, c, code, verifier)
	if status != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
		t.Fatalf("exchange raced by a revocation: %d %v, want 400 invalid_grant", status, body)
	}
}

// TestDeletedClientCodeCannotBeRedeemed: deleting a client ends its codes
// and tokens — the code cannot be redeemed (the client no longer
// authenticates) and its tokens introspect inactive.
func TestDeletedClientCodeCannotBeRedeemed(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	issued := tokens(t, p, c, "alice", "openid offline_access")
	code, verifier := grantCode(t, p, c, "alice", "openid offline_access")
	if err := db.DeleteClient(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if status, body := exchange(t, p, c, code, verifier); status != http.StatusUnauthorized || str(body, "error") != "invalid_client" {
		t.Fatalf("code of a deleted client: %d %v, want 401 invalid_client", status, body)
	}
	for _, k := range []string{"access_token", "refresh_token"} {
		if _, m := introspect(t, p, rs, str(issued, k)); m["active"] != false {
			t.Errorf("%s of a deleted client introspects %v", k, m)
		}
	}
	n, err := countRows(t, db, "requests", "client_id = ?", c.ID)
	if err != nil || n != 0 {
		t.Fatalf("request rows left for the deleted client: %d %v", n, err)
	}
}

func countRows(t testing.TB, db *storage.DB, table, where string, args ...any) (int64, error) {
	t.Helper()
	var n int64
	err := db.Writer().WithContext(t.Context()).Table(table).Where(where, args...).Count(&n).Error
	return n, err
}

// TestAuthorizationCodeNotStoredInPlaintext: after an authorization with
// the openid scope, no column of any table holds the code (the OpenID
// Connect session is keyed by the code's signature), and the exchange
// still finds that session (an ID token is issued).
func TestAuthorizationCodeNotStoredInPlaintext(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	code, verifier := grantCode(t, p, c, "alice", "openid offline_access")

	w := db.Writer().WithContext(t.Context())
	var tables []string
	if err := w.Raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).Scan(&tables).Error; err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for _, table := range tables {
		rows, err := w.Table(table).Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case string:
					s = v
				case []byte:
					s = string(v)
				}
				scanned++
				if strings.Contains(s, code) {
					t.Errorf("%s.%s holds the authorization code", table, cols[i])
				}
			}
		}
		_ = rows.Close()
	}
	if scanned == 0 {
		t.Fatal("scanned nothing")
	}
	status, body := exchange(t, p, c, code, verifier)
	if status != http.StatusOK || str(body, "id_token") == "" {
		t.Fatalf("exchange: %d %v, want tokens with an id_token", status, body)
	}
}

// TestRefreshScopeNarrowing pins RFC 6749 §6: a narrower scope gives an
// access token with just that scope (and no ID token without openid); the
// new refresh token keeps the original scope, so a later refresh without
// scope gets everything back; a scope not originally granted is
// invalid_scope and consumes nothing.
func TestRefreshScopeNarrowing(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{})
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	issued := tokens(t, p, c, "alice", "openid profile offline_access")
	rt := str(issued, "refresh_token")

	for _, tc := range []struct{ name, scope string }{
		{"broader", "openid profile offline_access users:read"},
		{"other case", "OPENID"},
	} {
		status, body := refreshWith(t, p, c, rt, tc.scope)
		if status != http.StatusBadRequest || str(body, "error") != "invalid_scope" {
			t.Fatalf("%s scope %q: %d %v, want 400 invalid_scope", tc.name, tc.scope, status, body)
		}
	}

	status, body := refreshWith(t, p, c, rt, "profile offline_access")
	if status != http.StatusOK {
		t.Fatalf("narrower scope (the refused ones must not have used the token): %d %v", status, body)
	}
	if got := strings.Fields(str(body, "scope")); !sameSet(got, []string{"profile", "offline_access"}) {
		t.Errorf("narrowed response scope %q, want profile offline_access", body["scope"])
	}
	if body["id_token"] != nil {
		t.Error("an ID token was issued for a refresh that dropped openid")
	}
	_, at := introspect(t, p, rs, str(body, "access_token"))
	if got := strings.Fields(str(at, "scope")); at["active"] != true || !sameSet(got, []string{"profile", "offline_access"}) {
		t.Errorf("narrowed access token introspects %v", at)
	}
	_, rtInfo := introspect(t, p, rs, str(body, "refresh_token"))
	if got := strings.Fields(str(rtInfo, "scope")); rtInfo["active"] != true || !sameSet(got, []string{"openid", "profile", "offline_access"}) {
		t.Errorf("the new refresh token introspects %v, want the original scope", rtInfo)
	}

	status, body = refreshWith(t, p, c, str(body, "refresh_token"), "")
	if got := strings.Fields(str(body, "scope")); status != http.StatusOK || !sameSet(got, []string{"openid", "profile", "offline_access"}) || str(body, "id_token") == "" {
		t.Fatalf("refresh without scope after narrowing: %d %v, want the original scope and an ID token", status, body)
	}
	status, body = refreshWith(t, p, c, str(body, "refresh_token"), "offline_access openid profile")
	if got := strings.Fields(str(body, "scope")); status != http.StatusOK || !sameSet(got, []string{"openid", "profile", "offline_access"}) {
		t.Fatalf("refresh naming the whole scope in another order: %d %v", status, body)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestRefreshFamilyLifetime: a grant approved longer ago than
// RefreshFamilyLifetime cannot be refreshed (invalid_grant), and no
// refresh token of the grant expires after that bound.
func TestRefreshFamilyLifetime(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.RefreshFamilyLifetime = 2 * time.Hour
		cfg.Now = func() time.Time { return *now.Load() }
	}, nil)
	c := registerClient(t, p, db, ClientSpec{})
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	issued := tokens(t, p, c, "alice", "openid offline_access")

	status, body := refreshWith(t, p, c, str(issued, "refresh_token"), "")
	if status != http.StatusOK {
		t.Fatalf("refresh within the lifetime: %d %v", status, body)
	}
	_, info := introspect(t, p, rs, str(body, "refresh_token"))
	exp, _ := info["exp"].(float64)
	if bound := start.Add(2 * time.Hour).Unix(); exp == 0 || int64(exp) > bound+1 {
		t.Errorf("rotated refresh token expires at %v, want no later than the family bound %v", exp, bound)
	}

	later := start.Add(2*time.Hour + time.Minute)
	now.Store(&later)
	status, body = refreshWith(t, p, c, str(body, "refresh_token"), "")
	if status != http.StatusBadRequest || str(body, "error") != "invalid_grant" {
		t.Fatalf("refresh of a grant older than the lifetime: %d %v, want 400 invalid_grant", status, body)
	}
}

// TestIntrospectionLimitedToOwnTokensUnlessResourceServer: a client that
// is not a resource server learns nothing about other clients' tokens
// (active false), nor about API keys; it still introspects its own. A
// resource server introspects everything.
func TestIntrospectionLimitedToOwnTokensUnlessResourceServer(t *testing.T) {
	var keyCalls atomic.Int32
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.IntrospectKey = func(_ context.Context, tok string) (map[string]any, bool) {
			keyCalls.Add(1)
			if tok == "lk_live_valid" {
				return map[string]any{"active": true, "token_type": "api_key"}, true
			}
			return nil, false
		}
	}, nil)
	app := registerClient(t, p, db, ClientSpec{})
	other := registerClient(t, p, db, ClientSpec{Name: "Registered at /apps by anyone"})
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	issued := tokens(t, p, app, "alice", "openid offline_access")
	keyToken, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "alice", Scopes: []string{"users:read"}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		caller testClient
		token  string
		active bool
	}{
		{"own access token", app, str(issued, "access_token"), true},
		{"own refresh token", app, str(issued, "refresh_token"), true},
		{"another client's access token", other, str(issued, "access_token"), false},
		{"another client's refresh token", other, str(issued, "refresh_token"), false},
		{"an API token", other, keyToken, false},
		{"an API key", other, "lk_live_valid", false},
		{"resource server: access token", rs, str(issued, "access_token"), true},
		{"resource server: refresh token", rs, str(issued, "refresh_token"), true},
		{"resource server: API token", rs, keyToken, true},
		{"resource server: API key", rs, "lk_live_valid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := introspect(t, p, tc.caller, tc.token)
			if status != http.StatusOK || body["active"] != tc.active {
				t.Fatalf("%d %v, want active=%v", status, body, tc.active)
			}
			if !tc.active && len(body) != 1 {
				t.Fatalf("an inactive answer says more than active: %v", body)
			}
		})
	}
	if n := keyCalls.Load(); n != 1 {
		t.Errorf("IntrospectKey called %d times, want once (only for the resource server)", n)
	}
}

// TestIntrospectionFailuresAreThrottled: failed client authentications and
// inactive tokens count against the caller's IP; past the limit every
// introspection from that IP is 429 with Retry-After, others are not.
func TestIntrospectionFailuresAreThrottled(t *testing.T) {
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.IntrospectFailures = throttle.New(3, time.Minute, time.Now)
	}, nil)
	app := registerClient(t, p, db, ClientSpec{})
	issued := tokens(t, p, app, "alice", "openid offline_access")
	at := str(issued, "access_token")

	if status, _ := introspect(t, p, app, at); status != http.StatusOK {
		t.Fatalf("valid introspection: %d", status)
	}
	if status, _ := introspect(t, p, testClient{ID: app.ID, Secret: app.Secret + "x"}, at); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", status)
	}
	if status, _ := introspect(t, p, testClient{ID: "nobody", Secret: "x"}, at); status != http.StatusUnauthorized {
		t.Fatalf("unknown client: %d", status)
	}
	if _, body := introspect(t, p, app, "ory_at_guess.guess"); body["active"] != false {
		t.Fatalf("guessed token: %v", body)
	}
	status, body, h := post(t, p.Introspect, "/oauth/introspect", app, url.Values{"token": {at}})
	if status != http.StatusTooManyRequests || str(body, "error") != "rate_limit_exceeded" || h.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d %v Retry-After %q, want 429", status, body, h.Get("Retry-After"))
	}

	r := httptest.NewRequest(http.MethodPost, "/oauth/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
	r.RemoteAddr = "198.51.100.7:4000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(app.ID, app.Secret)
	w := httptest.NewRecorder()
	p.Introspect(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
		t.Fatalf("another IP: %d %s", w.Code, w.Body.String())
	}
}

// TestUserinfoRefusesTokenOutsideHeader: the access token is accepted in
// the Authorization header only; in the query string or a form body it is
// 400 invalid_request with a Bearer challenge.
func TestUserinfoRefusesTokenOutsideHeader(t *testing.T) {
	p, db := newTestProvider(t)
	if err := db.CreateUser(t.Context(), &storage.User{ID: "alice", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	c := registerClient(t, p, db, ClientSpec{})
	at := str(tokens(t, p, c, "alice", "openid profile"), "access_token")
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"header", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/oauth/userinfo", nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, http.StatusOK},
		{"query", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/oauth/userinfo?access_token="+url.QueryEscape(at), nil)
		}, http.StatusBadRequest},
		{"form body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/oauth/userinfo", strings.NewReader("access_token="+url.QueryEscape(at)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest},
		{"header and query", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/oauth/userinfo?access_token="+url.QueryEscape(at), nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			p.Userinfo(w, tc.req())
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status == http.StatusBadRequest {
				if ch := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `error="invalid_request"`) ||
					!strings.Contains(w.Body.String(), `"invalid_request"`) {
					t.Fatalf("challenge %q body %s, want Bearer invalid_request", ch, w.Body.String())
				}
			}
		})
	}
}

// TestRequirePKCERefusedAtAuthorize: a client registered with RequirePKCE
// (and every public client) has a request without code_challenge refused
// with invalid_request when it is parsed — at /oauth/authorize and at
// /oauth/par — while a client without it may still omit PKCE.
func TestRequirePKCERefusedAtAuthorize(t *testing.T) {
	p, db := newTestProvider(t)
	strict := registerClient(t, p, db, ClientSpec{Name: "Strict", RequirePKCE: true})
	lax := registerClient(t, p, db, ClientSpec{Name: "Lax"})
	pub := registerClient(t, p, db, ClientSpec{Name: "SPA", Public: true})
	parse := func(id string, extra ...string) error {
		q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {flowRedirect}, "scope": {"openid"}, "state": {"state-123456789"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		a, err := p.ParseAuthorize(httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil))
		if err != nil && !a.Redirectable() {
			t.Fatalf("the PKCE refusal must be redirectable: %v", err)
		}
		return err
	}
	for _, id := range []string{strict.ID, pub.ID} {
		if err := parse(id); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("client %s without code_challenge: %v, want invalid_request", id, err)
		}
	}
	if err := parse(lax.ID); err != nil {
		t.Errorf("client without require_pkce: %v", err)
	}
	// A challenge must be S256, refused as early for every client.
	_, challenge := pkcePair()
	for _, method := range []string{"plain", "", "S512"} {
		if err := parse(lax.ID, "code_challenge", challenge, "code_challenge_method", method); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("code_challenge_method %q: %v, want invalid_request", method, err)
		}
	}
	if err := parse(strict.ID, "code_challenge", challenge, "code_challenge_method", "S256"); err != nil {
		t.Errorf("S256 challenge: %v", err)
	}

	status, body, _ := post(t, p.PAR, "/oauth/par", strict, url.Values{"response_type": {"code"}, "client_id": {strict.ID},
		"redirect_uri": {flowRedirect}, "scope": {"openid"}, "state": {"state-123456789"}})
	if status != http.StatusBadRequest || str(body, "error") != "invalid_request" {
		t.Errorf("PAR without code_challenge for a PKCE client: %d %v", status, body)
	}
	status, body, _ = post(t, p.PAR, "/oauth/par", strict, url.Values{"response_type": {"code"}, "client_id": {strict.ID},
		"redirect_uri": {flowRedirect}, "scope": {"openid"}, "state": {"state-123456789"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}})
	if status != http.StatusCreated {
		t.Errorf("PAR with a challenge: %d %v", status, body)
	}
}

// TestNewClientRecordFlags: public clients always require PKCE and cannot
// be resource servers; the flags are stored as asked otherwise.
func TestNewClientRecordFlags(t *testing.T) {
	p, _ := newTestProvider(t)
	pub, _, err := p.NewClientRecord(ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{flowRedirect}})
	if err != nil || !pub.RequirePKCE || pub.ResourceServer {
		t.Fatalf("public client: %+v %v", pub, err)
	}
	if _, _, err := p.NewClientRecord(ClientSpec{Name: "SPA", Public: true, ResourceServer: true, RedirectURIs: []string{flowRedirect}}); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Fatalf("public resource server: %v, want ErrInvalidClientMetadata", err)
	}
	rs, _, err := p.NewClientRecord(ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	if err != nil || !rs.ResourceServer || rs.RequirePKCE {
		t.Fatalf("resource server: %+v %v", rs, err)
	}
}

// TestResourceServerIntrospectionNotLockedOutByInactiveTokens: a resource
// server introspects whatever its own callers present, so inactive tokens
// and keys it asks about are its callers' failures, not its guesses:
// counting them per its IP let anyone who sends a resource server bad
// tokens (token_per_minute of them) stop its introspection for everyone.
// Its failed authentications still count, and so do an ordinary
// client's inactive answers.
func TestResourceServerIntrospectionNotLockedOutByInactiveTokens(t *testing.T) {
	p, db := newTestProviderWith(t, func(cfg *Config) {
		cfg.IntrospectFailures = throttle.New(3, time.Minute, time.Now)
		cfg.IntrospectKey = func(_ context.Context, tok string) (map[string]any, bool) {
			return map[string]any{"active": false}, strings.HasPrefix(tok, "lk_")
		}
	}, nil)
	app := registerClient(t, p, db, ClientSpec{})
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
	at := str(tokens(t, p, app, "alice", "openid offline_access"), "access_token")
	for i := range 10 {
		for _, bad := range []string{fmt.Sprintf("ory_at_bogus%d.x", i), fmt.Sprintf("lk_live_bogus%d", i)} {
			if status, body := introspect(t, p, rs, bad); status != http.StatusOK || body["active"] != false {
				t.Fatalf("bad token %d for the resource server: %d %v", i, status, body)
			}
		}
	}
	if status, body := introspect(t, p, rs, at); status != http.StatusOK || body["active"] != true {
		t.Fatalf("the resource server's next real introspection: %d %v, want 200 active", status, body)
	}
	for range 3 {
		introspect(t, p, testClient{ID: rs.ID, Secret: rs.Secret + "x"}, at)
	}
	if status, _ := introspect(t, p, rs, at); status != http.StatusTooManyRequests {
		t.Fatalf("after 3 failed authentications: %d, want 429", status)
	}
}
