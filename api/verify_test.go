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

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/throttle"
)

// ccTokens accepts one client_credentials token of a resource server.
type ccTokens struct{ Tokens }

func (ccTokens) ValidateAccessToken(_ context.Context, tok string) (*oauth.TokenInfo, error) {
	if tok != "rs-client-token" {
		return nil, oauth.ErrInvalidToken
	}
	return &oauth.TokenInfo{Subject: "rs", ClientID: "rs", GrantID: "g", Scopes: []string{"keys:verify"}, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// TestVerifyByClientNotLockedOutByInvalidKeys: a resource server verifies
// whatever keys its own callers present, with its client's token
// (client_credentials, as client.Verifier does); counting those invalid
// keys against its IP let anyone who sends it token_per_minute bad keys
// stop its verifications for everyone. They are not counted for a
// client's own token; a key or user credential calling verify still is.
func TestVerifyByClientNotLockedOutByInvalidKeys(t *testing.T) {
	f := newFixture(t)
	good, _ := f.create(owner, map[string]any{"handle": "good", "scopes": []string{"users:read"}})
	verifierKey, _ := f.create(owner, map[string]any{"handle": "verifier", "scopes": []string{"keys:verify"}})
	h := New(Config{Keys: f.keys, Tokens: ccTokens{}, Users: f.db, Logger: slog.New(slog.DiscardHandler),
		CredentialFailures: throttle.New(3, time.Minute, time.Now)})
	e := gin.New()
	e.POST("/v1/keys/verify", h.Authenticate(), Require("keys:verify"), h.VerifyKey)
	verify := func(cred, key string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", strings.NewReader(`{"key":"`+key+`"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+cred)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	bad := good[:len(good)-12] + "AAAAAA" + good[len(good)-6:]
	for i := range 10 {
		if code, body := verify("rs-client-token", bad); code != http.StatusOK || !strings.Contains(body, `"NOT_FOUND"`) {
			t.Fatalf("bad key %d for the resource server: %d %s", i, code, body)
		}
	}
	if code, body := verify("rs-client-token", good); code != http.StatusOK || !strings.Contains(body, `"VALID"`) {
		t.Fatalf("the resource server's next real verification: %d %s, want 200 VALID", code, body)
	}
	// A key calling verify is still counted per IP.
	for range 3 {
		verify(verifierKey, bad)
	}
	if code, _ := verify(verifierKey, good); code != http.StatusTooManyRequests {
		t.Fatalf("a key verifying after 3 invalid answers: %d, want 429", code)
	}
}
