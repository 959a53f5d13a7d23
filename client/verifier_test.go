package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	rsID     = "rs-client"
	rsSecret = "rs-secret/+="
	// appID is a client_credentials client not flagged resource_server.
	appID     = "app-client"
	appSecret = "app-secret"
	validKey  = "lk_live_valid"
	testEnv   = "lk_test_valid"
	deadKey   = "lk_live_revoked"
	limitKey  = "lk_live_limited"
	goodTok   = "ory_at_good"
	keyTok    = "ory_at_fromkey"
)

// fakeLatchkey imitates the three endpoints a Verifier uses.
type fakeLatchkey struct {
	*httptest.Server
	tokens, verifies, introspects atomic.Int32
	// rejectClientTokens makes /v1/keys/verify answer 401 to the first n
	// client tokens it sees.
	rejectClientTokens atomic.Int32
	down               atomic.Bool
	mu                 sync.Mutex
	issued             []string
}

func newFakeLatchkey(t *testing.T) *fakeLatchkey {
	t.Helper()
	f := &fakeLatchkey{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeLatchkey) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		writeJSONBody(w, 500, map[string]string{"error": "server_error"})
		return
	}
	switch r.URL.Path {
	case "/oauth/token":
		f.tokens.Add(1)
		id, sec, ok := r.BasicAuth()
		_ = r.ParseForm()
		isApp := ok && id == appID && sec == appSecret
		if !isApp && (!ok || id != rsID || sec != strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(rsSecret)) ||
			r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != VerifyScope {
			writeJSONBody(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
		f.mu.Lock()
		tok := "cc-" + time.Now().Format(time.RFC3339Nano)
		if isApp {
			tok = "cc-app-" + time.Now().Format(time.RFC3339Nano)
		}
		f.issued = append(f.issued, tok)
		f.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3600, "scope": VerifyScope})
	case "/v1/keys/verify":
		f.verifies.Add(1)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer cc-") {
			writeJSONBody(w, 401, map[string]string{"error": "invalid_api_key"})
			return
		}
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer cc-app-") {
			// As the server answers a client not flagged resource_server.
			writeJSONBody(w, 403, map[string]string{"error": "forbidden",
				"message": "Only a resource server may verify keys: use a client_credentials access token of a client created with `latchkey client create --resource-server`."})
			return
		}
		if f.rejectClientTokens.Load() > 0 {
			f.rejectClientTokens.Add(-1)
			writeJSONBody(w, 401, map[string]string{"error": "invalid_api_key", "message": "revoked client token"})
			return
		}
		var b struct {
			Key    string   `json:"key"`
			Scopes []string `json:"scopes"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.Header.Get("Content-Type") != "application/json" {
			writeJSONBody(w, 400, map[string]string{"error": "invalid_request"})
			return
		}
		exp := time.Now().Add(24 * time.Hour).UTC()
		switch b.Key {
		case validKey, testEnv:
			writeJSONBody(w, 200, map[string]any{"valid": true, "code": "VALID", "key_id": "key-1", "owner": "user-1",
				"scopes": []string{"users:read", "keys:read"}, "environment": "live", "expires_at": exp, "tier": "pro"})
		case deadKey:
			writeJSONBody(w, 200, map[string]any{"valid": false, "code": "REVOKED", "key_id": "key-2", "owner": "user-1"})
		case limitKey:
			writeJSONBody(w, 200, map[string]any{"valid": false, "code": "RATE_LIMITED"})
		default:
			writeJSONBody(w, 200, map[string]any{"valid": false, "code": "NOT_FOUND"})
		}
	case "/oauth/introspect":
		f.introspects.Add(1)
		id, sec, ok := r.BasicAuth()
		if !ok || id != rsID || sec != strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(rsSecret) {
			writeJSONBody(w, 401, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed."})
			return
		}
		_ = r.ParseForm()
		exp := time.Now().Add(time.Hour).Unix()
		switch r.PostForm.Get("token") {
		case goodTok:
			writeJSONBody(w, 200, map[string]any{"active": true, "scope": "users:read openid", "client_id": "app", "sub": "user-1", "exp": exp, "token_type": "Bearer"})
		case keyTok:
			writeJSONBody(w, 200, map[string]any{"active": true, "scope": "users:read", "sub": "user-1", "exp": exp, "key_id": "key-1"})
		default:
			writeJSONBody(w, 200, map[string]any{"active": false})
		}
	default:
		http.NotFound(w, r)
	}
}

func TestVerifierResults(t *testing.T) {
	f := newFakeLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheTTL(0))
	for _, tc := range []struct {
		cred    string
		want    *Identity
		wantErr error
	}{
		{cred: validKey, want: &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-1", Scopes: []string{"users:read", "keys:read"}, Environment: "live", Tier: "pro"}},
		{cred: testEnv, want: &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-1", Scopes: []string{"users:read", "keys:read"}, Environment: "live", Tier: "pro"}},
		{cred: deadKey, wantErr: ErrInvalidCredential},
		{cred: "lk_live_unknown", wantErr: ErrInvalidCredential},
		{cred: limitKey, wantErr: ErrRateLimited},
		{cred: goodTok, want: &Identity{Kind: KindAccessToken, Subject: "user-1", ClientID: "app", Scopes: []string{"users:read", "openid"}}},
		{cred: keyTok, want: &Identity{Kind: KindAccessToken, Subject: "user-1", KeyID: "key-1", Scopes: []string{"users:read"}}},
		{cred: "ory_at_unknown", wantErr: ErrInvalidCredential},
		{cred: "xx_live_otherprefix", wantErr: ErrInvalidCredential}, // not a key here: introspected, inactive
		{cred: "", wantErr: ErrInvalidCredential},
		{cred: strings.Repeat("a", 5000), wantErr: ErrInvalidCredential},
	} {
		name := tc.cred
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.cred)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || id != nil {
					t.Fatalf("got %v, %v; want %v", id, err, tc.wantErr)
				}
				if errors.Is(err, ErrUnavailable) {
					t.Fatalf("%v must not be unavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.ExpiresAt.IsZero() {
				t.Fatalf("no expiry in %+v", id)
			}
			id.ExpiresAt = time.Time{}
			if mustJSONString(id) != mustJSONString(tc.want) {
				t.Fatalf("got %s\nwant %s", mustJSONString(id), mustJSONString(tc.want))
			}
		})
	}
	if f.tokens.Load() != 1 {
		t.Fatalf("client token fetched %d times; want it cached", f.tokens.Load())
	}
}

// TestVerifierClientNotResourceServer: a Verifier whose client is not
// flagged resource_server is refused at /v1/keys/verify (403); that is
// about its own client, not the key, so the key is not called invalid:
// the error is ErrUnavailable and carries the server's message naming
// `latchkey client create --resource-server`. A 403 is not retried with a
// new client token.
func TestVerifierClientNotResourceServer(t *testing.T) {
	f := newFakeLatchkey(t)
	v := NewVerifier(f.URL, appID, appSecret, WithCacheTTL(0))
	id, err := v.Verify(context.Background(), validKey)
	if id != nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidCredential) ||
		!strings.Contains(err.Error(), "latchkey client create --resource-server") {
		t.Fatalf("got %v, %v; want ErrUnavailable naming --resource-server", id, err)
	}
	if f.tokens.Load() != 1 || f.verifies.Load() != 1 {
		t.Fatalf("%d client tokens, %d verifications; want one each (no retry on 403)", f.tokens.Load(), f.verifies.Load())
	}
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestVerifierKeyPrefix(t *testing.T) {
	f := newFakeLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithKeyPrefix("acme"), WithCacheTTL(0))
	if v.IsAPIKey(validKey) || !v.IsAPIKey("acme_live_x") || !v.IsAPIKey("acme_test_x") || v.IsAPIKey("acme_prod_x") {
		t.Fatal("IsAPIKey does not follow the prefix")
	}
	_, _ = v.Verify(context.Background(), validKey)
	if f.introspects.Load() != 1 || f.verifies.Load() != 0 {
		t.Fatalf("an lk_ key with prefix acme must be introspected: %d/%d", f.introspects.Load(), f.verifies.Load())
	}
}

func TestVerifierCache(t *testing.T) {
	type step struct {
		cred    string
		advance time.Duration // clock advance before the call
	}
	for _, tc := range []struct {
		name  string
		opts  []Option
		steps []step
		// upstream calls expected (verify + introspect)
		upstream int32
	}{
		{name: "positive key cached", steps: []step{{cred: validKey}, {cred: validKey}, {cred: validKey, advance: 4 * time.Second}}, upstream: 1},
		{name: "positive token cached", steps: []step{{cred: goodTok}, {cred: goodTok}}, upstream: 1},
		{name: "negative cached", steps: []step{{cred: deadKey}, {cred: deadKey}, {cred: "ory_at_bad"}, {cred: "ory_at_bad"}}, upstream: 2},
		{name: "expires after ttl", steps: []step{{cred: validKey}, {cred: validKey, advance: 5 * time.Second}}, upstream: 2},
		{name: "custom ttl", opts: []Option{WithCacheTTL(time.Minute)}, steps: []step{{cred: validKey}, {cred: validKey, advance: 59 * time.Second}, {cred: validKey, advance: 2 * time.Second}}, upstream: 2},
		{name: "ttl 0 disables", opts: []Option{WithCacheTTL(0)}, steps: []step{{cred: validKey}, {cred: validKey}, {cred: deadKey}, {cred: deadKey}}, upstream: 4},
		{name: "size 0 disables", opts: []Option{WithCacheSize(0)}, steps: []step{{cred: validKey}, {cred: validKey}}, upstream: 2},
		{name: "rate limits not cached", steps: []step{{cred: limitKey}, {cred: limitKey}}, upstream: 2},
		{name: "distinct credentials distinct entries", steps: []step{{cred: validKey}, {cred: testEnv}, {cred: validKey}, {cred: testEnv}}, upstream: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLatchkey(t)
			now := time.Now()
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			v := NewVerifier(f.URL, rsID, rsSecret, append([]Option{withClock(clock)}, tc.opts...)...)
			for _, s := range tc.steps {
				mu.Lock()
				now = now.Add(s.advance)
				mu.Unlock()
				_, _ = v.Verify(context.Background(), s.cred)
			}
			if got := f.verifies.Load() + f.introspects.Load(); got != tc.upstream {
				t.Fatalf("upstream calls = %d, want %d", got, tc.upstream)
			}
		})
	}
}

func TestVerifierCacheInternals(t *testing.T) {
	f := newFakeLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheSize(3))
	ctx := context.Background()
	for _, c := range []string{validKey, testEnv, deadKey, goodTok, keyTok, "ory_at_x"} {
		_, _ = v.Verify(ctx, c)
	}
	if n := v.cacheLen(); n != 3 {
		t.Fatalf("cache holds %d entries, want the bound 3", n)
	}
	// Keys are digests; the raw credential appears nowhere in the cache.
	v.mu.Lock()
	dump := fmt.Sprintf("%+v", v.cache)
	for _, e := range v.cache {
		dump += fmt.Sprintf("%+v", e.id)
	}
	v.mu.Unlock()
	for _, c := range []string{validKey, testEnv, deadKey, goodTok, keyTok} {
		if strings.Contains(dump, c) {
			t.Fatalf("cache exposes %q", c)
		}
	}
	// Callers get copies: mutating one does not poison the cache.
	v2 := NewVerifier(f.URL, rsID, rsSecret)
	id, err := v2.Verify(ctx, validKey)
	if err != nil {
		t.Fatal(err)
	}
	id.Scopes[0] = "admin"
	id2, _ := v2.Verify(ctx, validKey)
	if id2.Scopes[0] != "users:read" || f.verifies.Load() != 4 {
		t.Fatalf("cached identity was mutated: %v (verifies %d)", id2.Scopes, f.verifies.Load())
	}
}

func TestVerifierCacheNeverOutlivesCredential(t *testing.T) {
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSONBody(w, 200, map[string]any{"active": true, "sub": "u", "exp": exp.Unix()})
	}))
	defer srv.Close()
	now := exp.Add(-time.Second)
	var mu sync.Mutex
	v := NewVerifier(srv.URL, rsID, rsSecret, WithCacheTTL(time.Hour), withClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	if _, err := v.Verify(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = exp
	mu.Unlock()
	if _, err := v.Verify(context.Background(), "tok"); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("a credential past its expiry must be refused, got %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestVerifierFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("client token rejected once is renewed", func(t *testing.T) {
		f := newFakeLatchkey(t)
		f.rejectClientTokens.Store(1)
		v := NewVerifier(f.URL, rsID, rsSecret)
		if _, err := v.Verify(ctx, validKey); err != nil {
			t.Fatal(err)
		}
		if f.tokens.Load() != 2 || f.verifies.Load() != 2 {
			t.Fatalf("tokens %d verifies %d", f.tokens.Load(), f.verifies.Load())
		}
	})
	t.Run("client token rejected twice is unavailable", func(t *testing.T) {
		f := newFakeLatchkey(t)
		f.rejectClientTokens.Store(5)
		v := NewVerifier(f.URL, rsID, rsSecret)
		_, err := v.Verify(ctx, validKey)
		var e *Error
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidCredential) || !errors.As(err, &e) || e.Status != 401 {
			t.Fatalf("got %v", err)
		}
	})
	for _, tc := range []struct {
		name, cred, secret string
		down, closed       bool
	}{
		{name: "wrong client secret for keys", cred: validKey, secret: "nope"},
		{name: "wrong client secret for tokens", cred: goodTok, secret: "nope"},
		{name: "server error on key", cred: validKey, down: true},
		{name: "server error on token", cred: goodTok, down: true},
		{name: "unreachable key", cred: validKey, closed: true},
		{name: "unreachable token", cred: goodTok, closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLatchkey(t)
			sec := rsSecret
			if tc.secret != "" {
				sec = tc.secret
			}
			f.down.Store(tc.down)
			v := NewVerifier(f.URL, rsID, sec)
			if tc.closed {
				f.Close()
			}
			for i := 0; i < 2; i++ {
				id, err := v.Verify(ctx, tc.cred)
				if id != nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidCredential) {
					t.Fatalf("got %v, %v", id, err)
				}
				if strings.Contains(err.Error(), tc.cred) || strings.Contains(err.Error(), sec) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
			if v.cacheLen() != 0 {
				t.Fatal("unavailability must not be cached")
			}
		})
	}
}
