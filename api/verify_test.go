package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/openapitest"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/throttle"
)

// ccTokens accepts client_credentials tokens: "rs-client-token" of a
// resource server, "app-client-token" of a client not flagged as one
// (both with keys:verify), and "app-user-token", an app's token for the
// user; other tokens go to the embedded Tokens.
type ccTokens struct{ Tokens }

func (c ccTokens) ValidateAccessToken(ctx context.Context, tok string) (*oauth.TokenInfo, error) {
	exp := time.Now().Add(time.Hour)
	switch tok {
	case "rs-client-token":
		return &oauth.TokenInfo{Subject: "rs", ClientID: "rs", GrantID: "g", Scopes: []string{"keys:verify"}, ExpiresAt: exp, ResourceServer: true}, nil
	case "app-client-token":
		return &oauth.TokenInfo{Subject: "app", ClientID: "app", GrantID: "g2", Scopes: []string{"keys:verify"}, ExpiresAt: exp}, nil
	case "app-user-token":
		return &oauth.TokenInfo{Subject: "user-1", ClientID: "app", GrantID: "g3", Scopes: []string{"keys:verify"}, ExpiresAt: exp}, nil
	}
	if c.Tokens != nil {
		return c.Tokens.ValidateAccessToken(ctx, tok)
	}
	return nil, oauth.ErrInvalidToken
}

// verifyEngine serves POST /v1/keys/verify as server.mountAPI mounts it,
// over f's key service, with ccTokens for access tokens.
func verifyEngine(f *fixture, failures throttle.Counter) func(cred, key string) (int, string) {
	h := New(Config{Keys: f.keys, Tokens: ccTokens{f.oauth}, Users: f.db, Logger: slog.New(slog.DiscardHandler),
		CredentialFailures: failures,
		SessionUser: func(r *http.Request) (string, bool) {
			return f.userID, r.Header.Get("X-Test-Session") == "alice"
		}})
	e := gin.New()
	e.POST("/v1/keys/verify", h.Authenticate(), RequireResourceServer(), Require("keys:verify"), h.VerifyKey)
	return func(cred, key string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", strings.NewReader(`{"key":"`+key+`"}`))
		r.Header.Set("Content-Type", "application/json")
		if cred == owner {
			r.Header.Set("X-Test-Session", "alice")
		} else {
			r.Header.Set("Authorization", "Bearer "+cred)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		openapitest.MustNew(f.t).Recorded(f.t, r, w)
		return w.Code, w.Body.String()
	}
}

// TestVerifyByClientNotLockedOutByInvalidKeys: a resource server verifies
// whatever keys its own callers present, with its client's token
// (client_credentials, as client.Verifier does); counting those invalid
// keys against its IP let anyone who sends it token_per_minute bad keys
// stop its verifications for everyone. They are not counted.
func TestVerifyByClientNotLockedOutByInvalidKeys(t *testing.T) {
	f := newFixture(t)
	good, _ := f.create(owner, map[string]any{"handle": "good", "scopes": []string{"users:read"}})
	verify := verifyEngine(f, throttle.New(3, time.Minute, time.Now))
	bad := good[:len(good)-12] + "AAAAAA" + good[len(good)-6:]
	for i := range 10 {
		if code, body := verify("rs-client-token", bad); code != http.StatusOK || !strings.Contains(body, `"NOT_FOUND"`) {
			t.Fatalf("bad key %d for the resource server: %d %s", i, code, body)
		}
	}
	if code, body := verify("rs-client-token", good); code != http.StatusOK || !strings.Contains(body, `"VALID"`) {
		t.Fatalf("the resource server's next real verification: %d %s, want 200 VALID", code, body)
	}
}

// TestVerifyKeyOnlyForResourceServers (black-box review of issue 10,
// medium): POST /v1/keys/verify reveals another user's key's owner, id,
// scopes, tier, expiry and rate-limit state, so only a resource server
// may call it (SPEC §3.3 "a client token with scope keys:verify"): a
// client_credentials token of a client flagged resource_server. A user's
// read-write key (which carries keys:verify), a token exchanged from it,
// the session, an app's token for the user and a client not flagged are
// refused with 403 and a message naming the CLI flag.
func TestVerifyKeyOnlyForResourceServers(t *testing.T) {
	f := newFixture(t)
	target, _ := f.create(owner, map[string]any{"handle": "target", "scopes": []string{"users:read"}})
	rw, _ := f.create(owner, map[string]any{"handle": "rw", "scopes": []string{"read-write"}})
	verify := verifyEngine(f, nil)
	for _, tc := range []struct{ name, cred string }{
		{"read-write api key", rw},
		{"api token of a read-write key", f.token(rw)},
		{"session", owner},
		{"app token for the user", "app-user-token"},
		{"client not flagged resource_server", "app-client-token"},
	} {
		code, body := verify(tc.cred, target)
		if code != http.StatusForbidden || !strings.Contains(body, `"forbidden"`) || !strings.Contains(body, "latchkey client create --resource-server") ||
			strings.Contains(body, "owner") || strings.Contains(body, "VALID") {
			t.Errorf("%s: %d %s, want 403 forbidden naming --resource-server", tc.name, code, body)
		}
	}
	if code, body := verify("rs-client-token", target); code != http.StatusOK || !strings.Contains(body, `"VALID"`) || !strings.Contains(body, `"owner":"user-1"`) {
		t.Fatalf("resource server: %d %s, want 200 VALID", code, body)
	}
}
