package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/oauth"
)

// TestClientE2E drives the client package against the real server: the
// key token source with oauth2.NewClient, and a resource server protected
// by Verifier middleware (net/http and gin) seeing keys, exchanged tokens,
// a revoked key and a key without the needed scope.
func TestClientE2E(t *testing.T) {
	s := newTestServer(t)
	u := s.CreateUser(t, "erin", "erin-password-123")
	pw := basicHeader("erin", "erin-password-123")
	ctx := context.Background()

	code, full, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"full","environment":"live"}`)
	if code != 201 {
		t.Fatalf("create key: %d %v", code, full)
	}
	key := full["key"].(string)
	code, narrow, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"narrow","scopes":["keys:read"]}`)
	if code != 201 {
		t.Fatalf("create narrow key: %d %v", code, narrow)
	}
	narrowKey := narrow["key"].(string)

	// The token source with oauth2.NewClient.
	ts := client.KeyTokenSource(ctx, s.URL, key)
	hc := oauth2.NewClient(ctx, ts)
	resp, err := hc.Get(s.URL + "/user")
	if err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	if resp.StatusCode != 200 || me["username"] != "erin" || me["id"] != u.ID {
		t.Fatalf("GET /user through the token source: %d %v", resp.StatusCode, me)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	if _, err := client.KeyTokenSource(ctx, s.URL, "lk_live_nope").Token(); err == nil {
		t.Fatal("a bad key was exchanged")
	} else {
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 401 || e.Code != "invalid_api_key" {
			t.Fatalf("bad key: %v", err)
		}
	}

	// A resource server: it introspects tokens of other clients, so it is
	// flagged as one (latchkey client create --resource-server).
	cid, csec := s.CreateClient(t, oauth.ClientSpec{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: true})
	v := client.NewVerifier(s.URL, cid, csec, client.WithCacheTTL(0))
	mux := http.NewServeMux()
	mux.Handle("/plain", v.Middleware("users:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := client.IdentityFrom(r.Context())
		_ = json.NewEncoder(w).Encode(id)
	})))
	gin.SetMode(gin.TestMode)
	g := gin.New()
	g.GET("/gin", v.Gin("users:read"), func(c *gin.Context) {
		id, _ := client.GinIdentity(c)
		c.JSON(200, id)
	})
	mux.Handle("/gin", g)
	rs := httptest.NewServer(mux)
	defer rs.Close()

	call := func(path, authz string) (int, map[string]any, http.Header) {
		t.Helper()
		return apiCall(t, "GET", rs.URL+path, authz, "")
	}
	for _, path := range []string{"/plain", "/gin"} {
		code, id, _ := call(path, "Bearer "+key)
		if code != 200 || id["kind"] != client.KindAPIKey || id["subject"] != u.ID || id["key_id"] != full["id"] || id["environment"] != "live" {
			t.Fatalf("%s with the key: %d %v", path, code, id)
		}
		if code, id, _ = call(path, key); code != 200 || id["kind"] != client.KindAPIKey {
			t.Fatalf("%s with the bare key: %d %v", path, code, id)
		}
		code, id, _ = call(path, "Bearer "+tok.AccessToken)
		if code != 200 || id["kind"] != client.KindAccessToken || id["subject"] != u.ID || id["key_id"] != full["id"] {
			t.Fatalf("%s with the exchanged token: %d %v", path, code, id)
		}
		code, body, h := call(path, "Bearer "+narrowKey)
		if code != 403 || body["error"] != "insufficient_scope" || !strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Fatalf("%s with a key lacking users:read: %d %v %v", path, code, body, h)
		}
		if code, body, h = call(path, ""); code != 401 || body["error"] != "missing_api_key" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s without a credential: %d %v", path, code, body)
		}
		if code, body, _ = call(path, "Bearer lk_live_garbage"); code != 401 || body["error"] != "invalid_api_key" {
			t.Fatalf("%s with a garbage key: %d %v", path, code, body)
		}
		if code, body, _ = call(path, "Bearer ory_at_garbage.garbage"); code != 401 || body["error"] != "invalid_api_key" {
			t.Fatalf("%s with a garbage token: %d %v", path, code, body)
		}
	}

	// Revocation: with the cache disabled, the key and its token die at once.
	if code, _, _ := apiCall(t, "DELETE", s.URL+"/user/keys/full", pw, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	for _, path := range []string{"/plain", "/gin"} {
		for _, cred := range []string{key, tok.AccessToken} {
			if code, body, h := call(path, "Bearer "+cred); code != 401 || body["error"] != "invalid_api_key" || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("%s after revocation: %d %v", path, code, body)
			}
		}
	}
	// And the token source reports the refused key.
	_, err = client.KeyTokenSource(ctx, s.URL, key).Token()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("exchanging a revoked key: %v", err)
	}

	// A verifier with wrong client credentials answers 503, not 401.
	bad := client.NewVerifier(s.URL, cid, "wrong-secret")
	h := bad.Middleware()(http.NotFoundHandler())
	for _, cred := range []string{narrowKey, "ory_at_x"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("misconfigured verifier: %d %s", rec.Code, rec.Body)
		}
	}
}
