package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// fakeKeys is a Config.KeyState whose answers a test sets per key.
type fakeKeys struct {
	mu    sync.Mutex
	state map[string]KeyState
	calls int
}

func (f *fakeKeys) set(id string, st *KeyState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st == nil {
		delete(f.state, id)
		return
	}
	f.state[id] = *st
}

func (f *fakeKeys) get(_ context.Context, id string) (KeyState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	st, ok := f.state[id]
	if !ok {
		return KeyState{}, ErrInvalidToken
	}
	return st, nil
}

// TestKeyTokenBoundByKeyNow (issue 10, medium 5): a token exchanged from
// an API key is, on every use and at introspection, never more than the
// key as Config.KeyState reports it now: narrowed scopes, a shortened
// expiry, and inactive once the key may not be used; ValidateAccessToken
// reports the key's expiry now (KeyExpiresAt), the bound of what the token
// may do to keys.
func TestKeyTokenBoundByKeyNow(t *testing.T) {
	p, db := newTestProvider(t)
	keys := &fakeKeys{state: map[string]KeyState{}}
	p.cfg.KeyState = keys.get
	rs := registerClient(t, p, db, ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}, ResourceServer: true})
	keys.set("k1", &KeyState{Scopes: []string{"keys:read", "users:read"}})
	tok, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "u1", Scopes: []string{"keys:read", "users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, wantActive bool, wantScope string, wantExpBefore, wantKeyExp time.Time) {
		t.Helper()
		info, err := p.ValidateAccessToken(t.Context(), tok)
		status, body := introspect(t, p, rs, tok)
		if status != http.StatusOK {
			t.Fatalf("introspect: %d %v", status, body)
		}
		if !wantActive {
			if !errors.Is(err, ErrInvalidToken) || body["active"] != false || len(body) != 1 {
				t.Fatalf("want inactive: validate %v, introspection %v", err, body)
			}
			return
		}
		if err != nil || strings.Join(info.Scopes, " ") != wantScope || body["active"] != true || body["scope"] != wantScope {
			t.Fatalf("validate %+v %v, introspection %v; want scope %q", info, err, body, wantScope)
		}
		if exp := int64(body["exp"].(float64)); exp > wantExpBefore.Unix() || info.ExpiresAt.After(wantExpBefore) {
			t.Fatalf("expiry %d / %v, want at most %v", exp, info.ExpiresAt, wantExpBefore)
		}
		if info.KeyID != "k1" || !info.KeyExpiresAt.Equal(wantKeyExp) {
			t.Fatalf("key %q expiring at %v, want k1 expiring at %v", info.KeyID, info.KeyExpiresAt, wantKeyExp)
		}
	}
	check(t, true, "keys:read users:read", time.Now().Add(time.Hour+time.Second), time.Time{})

	soon := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	keys.set("k1", &KeyState{Scopes: []string{"users:read", "keys:write"}, ExpiresAt: soon})
	check(t, true, "users:read", soon, soon)

	later := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	keys.set("k1", &KeyState{Scopes: []string{"users:read"}, ExpiresAt: later})
	check(t, true, "users:read", time.Now().Add(time.Hour+time.Second), later)

	keys.set("k1", &KeyState{Scopes: []string{"users:read"}, ExpiresAt: time.Now().Add(-time.Second)})
	check(t, false, "", time.Time{}, time.Time{})

	keys.set("k1", nil) // revoked, rotated out or gone
	check(t, false, "", time.Time{}, time.Time{})

	t.Run("other tokens are not looked up", func(t *testing.T) {
		before := keys.calls
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rs.ID, rs.Secret)
		w := httptest.NewRecorder()
		p.Token(w, req)
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		if info, err := p.ValidateAccessToken(t.Context(), out.AccessToken); err != nil || !info.KeyExpiresAt.IsZero() {
			t.Fatalf("client token: %+v %v", info, err)
		}
		if keys.calls != before {
			t.Fatal("a client token was checked against a key")
		}
	})
}

// TestRevokeKeyTokenByPresentingIt (issue 10, low): /oauth/revoke ends a
// token from /tokens/generate when it is presented (such tokens belong to
// no client), that token only; everywhere it is refused afterwards.
func TestRevokeKeyTokenByPresentingIt(t *testing.T) {
	p, _ := newTestProvider(t)
	tok, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "u1", Scopes: []string{"users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := p.MintKeyToken(t.Context(), KeyGrant{KeyID: "k1", UserID: "u1", Scopes: []string{"users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	revoke := func(token string) int {
		req := httptest.NewRequest("POST", "/oauth/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		p.Revoke(w, req)
		return w.Code
	}
	if code := revoke(tok); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if _, err := p.ValidateAccessToken(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("the revoked token still validates: %v", err)
	}
	if _, err := p.ValidateAccessToken(t.Context(), other); err != nil {
		t.Fatalf("another token of the same key was revoked too: %v", err)
	}
	// Once gone, it is an unknown token like any other: without client
	// authentication that is invalid_client (RFC 7009 §2.1, RFC 6749 §5.2).
	for _, token := range []string{tok, "ory_at_made.up"} {
		if code := revoke(token); code != http.StatusUnauthorized {
			t.Fatalf("unknown token without client authentication: %d, want 401 invalid_client", code)
		}
	}
}

// TestEndingGrantRevokesItsKeys (issue 10, low): when fosite ends a grant
// (revocation, refresh-token reuse, code replay all call
// RevokeRefreshToken), the API keys its tokens created are revoked.
func TestEndingGrantRevokesItsKeys(t *testing.T) {
	p, db := newTestProvider(t)
	ctx := t.Context()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "u1", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*storage.APIKey{
		{ID: "from-g1", UserID: "u1", Handle: "a", Display: "lk_live_aaaa", Environment: "live", Tier: "free", Digest: []byte("11111111111111111111111111111111"), ParentGrantID: "g1", ParentClientID: "c1"},
		{ID: "from-g2", UserID: "u1", Handle: "b", Display: "lk_live_bbbb", Environment: "live", Tier: "free", Digest: []byte("22222222222222222222222222222222"), ParentGrantID: "g2", ParentClientID: "c1"},
	} {
		if err := db.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.store.RevokeRefreshToken(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	var revoked []string
	for _, id := range []string{"from-g1", "from-g2"} {
		k, err := db.GetAPIKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.RevokedAt != nil {
			revoked = append(revoked, id)
		}
	}
	if !slices.Equal(revoked, []string{"from-g1"}) {
		t.Fatalf("revoked %v, want the key of grant g1 only", revoked)
	}
}
