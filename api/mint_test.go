package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/openapitest"
	"github.com/latchkey/latchkey/oauth"
)

// grantTokens accepts "app-grant-token", an access token the client "app"
// holds for user-1 with keys:read and keys:write; other tokens go to the
// embedded Tokens.
type grantTokens struct{ Tokens }

func (g grantTokens) ValidateAccessToken(ctx context.Context, tok string) (*oauth.TokenInfo, error) {
	if tok == "app-grant-token" {
		return &oauth.TokenInfo{Subject: "user-1", ClientID: "app", GrantID: "grant-1",
			Scopes: []string{"keys:read", "keys:write"}, ExpiresAt: time.Now().Add(time.Hour)}, nil
	}
	return g.Tokens.ValidateAccessToken(ctx, tok)
}

// TestChildKeyTierNoHigherThanCredential (black-box review of issue 10,
// low): a free-tier key with keys:write created an enterprise child. Over
// the API a key creates no key of a higher tier than its own (403), and
// an app's token none above its client's tier, looked up through
// RateLimits.ClientTier (503 when that fails); the owner picks any tier.
func TestChildKeyTierNoHigherThanCredential(t *testing.T) {
	f := newFixture(t)
	writer, _ := f.create(owner, map[string]any{"handle": "writer", "tier": "free", "scopes": []string{"keys:write", "keys:read"}})
	clientTier := func(_ context.Context, id string) (string, error) {
		if id == "app" {
			return "pro", nil
		}
		return "", errors.New("database unavailable")
	}
	h := New(Config{Keys: f.keys, Tokens: grantTokens{f.oauth}, Users: f.db, Logger: slog.New(slog.DiscardHandler),
		RateLimits: &RateLimits{ClientTier: clientTier},
		SessionUser: func(r *http.Request) (string, bool) {
			return f.userID, r.Header.Get("X-Test-Session") == "alice"
		}})
	e := gin.New()
	e.POST("/user/keys", h.Authenticate(), RequireUser(), Require("keys:write"), h.CreateKey)
	e.POST("/user/keys/:handle/rotate", h.Authenticate(), RequireUser(), Require("keys:write"), h.RotateKey)
	call := func(cred, path string, body map[string]any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		if cred == owner {
			r.Header.Set("X-Test-Session", "alice")
		} else {
			r.Header.Set("Authorization", "Bearer "+cred)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		openapitest.MustNew(t).Recorded(t, r, w)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out
	}

	for i, tc := range []struct {
		name, cred, tier string
		status           int
	}{
		{"free key asks for enterprise", writer, "enterprise", http.StatusForbidden},
		{"token of the free key asks for pro", f.token(writer), "pro", http.StatusForbidden},
		{"free key asks for free", writer, "free", http.StatusCreated},
		{"pro app's token asks for enterprise", "app-grant-token", "enterprise", http.StatusForbidden},
		{"pro app's token asks for pro", "app-grant-token", "pro", http.StatusCreated},
		{"owner asks for enterprise", owner, "enterprise", http.StatusCreated},
	} {
		code, out := call(tc.cred, "/user/keys", map[string]any{"handle": fmt.Sprintf("child%d", i), "tier": tc.tier, "scopes": []string{"keys:read"}})
		if code != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, code, out, tc.status)
			continue
		}
		if msg, _ := out["message"].(string); code == http.StatusForbidden && (out["error"] != "forbidden" || !strings.Contains(msg, "higher tier")) {
			t.Errorf("%s: %v, want forbidden naming the tier", tc.name, out)
		}
		if code == http.StatusCreated && out["tier"] != tc.tier {
			t.Errorf("%s: tier %v", tc.name, out["tier"])
		}
	}
	// Rotation into a higher tier is refused too.
	f.create(owner, map[string]any{"handle": "big", "tier": "enterprise", "scopes": []string{"keys:read"}})
	if code, out := call(writer, "/user/keys/big/rotate", nil); code != http.StatusForbidden {
		t.Errorf("free key rotating an enterprise key: %d %v, want 403", code, out)
	}
	// The client's tier cannot be read: 503, nothing created.
	h.cfg.RateLimits.ClientTier = func(context.Context, string) (string, error) { return "", errors.New("database unavailable") }
	if code, out := call("app-grant-token", "/user/keys", map[string]any{"handle": "unchecked", "scopes": []string{"keys:read"}}); code != http.StatusServiceUnavailable {
		t.Errorf("client tier lookup failing: %d %v, want 503", code, out)
	}
}

// TestCreateByRevokedParentIs401: a key whose parent credential was
// revoked between authentication and the write (keys.ErrCredentialEnded)
// is refused with 401 invalid_api_key.
func TestCreateByRevokedParentIs401(t *testing.T) {
	f := newFixture(t)
	writer, v := f.create(owner, map[string]any{"handle": "writer", "scopes": []string{"keys:write"}})
	// Authenticate first (the key is cached as valid), then revoke it
	// behind the cache's back, as another instance would.
	if st, _, raw := f.do(writer, http.MethodPost, "/user/keys", map[string]any{"handle": "first", "scopes": []string{"keys:write"}}); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, raw)
	}
	now := time.Now().UTC()
	if err := f.db.Writer().Exec("UPDATE api_keys SET revoked_at = ? WHERE id = ?", now, v["id"]).Error; err != nil {
		t.Fatal(err)
	}
	st, out, _ := f.do(writer, http.MethodPost, "/user/keys", map[string]any{"handle": "second", "scopes": []string{"keys:write"}})
	if st != http.StatusUnauthorized || out["error"] != "invalid_api_key" {
		t.Fatalf("create by a key revoked meanwhile: %d %v, want 401 invalid_api_key", st, out)
	}
}
