package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestMiddlewareStatuses(t *testing.T) {
	gin.SetMode(gin.TestMode)
	f := newFakeLatchkey(t)
	down := newFakeLatchkey(t)
	down.down.Store(true)

	type tc struct {
		name      string
		authz     string
		scopes    []string
		unavail   bool
		status    int
		code      string
		challenge string // expected WWW-Authenticate prefix ("" = none)
		kind      string // expected Identity.Kind on success
	}
	cases := []tc{
		{name: "no header", status: 401, code: "missing_api_key", challenge: `Bearer realm="latchkey"`},
		{name: "empty bearer", authz: "Bearer ", status: 401, code: "missing_api_key", challenge: `Bearer realm="latchkey"`},
		{name: "bare Bearer", authz: "Bearer", status: 401, code: "missing_api_key", challenge: `Bearer realm="latchkey"`},
		{name: "basic scheme", authz: "Basic dXNlcjpwYXNz", status: 401, code: "invalid_api_key", challenge: `Bearer realm="latchkey", error="invalid_token"`},
		{name: "bare non-key", authz: "ory_at_good", status: 401, code: "invalid_api_key", challenge: `Bearer realm="latchkey", error="invalid_token"`},
		{name: "unknown key", authz: "Bearer lk_live_unknown", status: 401, code: "invalid_api_key", challenge: `Bearer realm="latchkey", error="invalid_token"`},
		{name: "revoked key", authz: "Bearer " + deadKey, status: 401, code: "invalid_api_key", challenge: `Bearer realm="latchkey", error="invalid_token"`},
		{name: "inactive token", authz: "Bearer ory_at_nope", status: 401, code: "invalid_api_key", challenge: `Bearer realm="latchkey", error="invalid_token"`},
		{name: "rate limited", authz: "Bearer " + limitKey, status: 429, code: "rate_limited"},
		{name: "valid key bearer", authz: "Bearer " + validKey, scopes: []string{"users:read"}, status: 200, kind: KindAPIKey},
		{name: "valid key lowercase scheme", authz: "bearer " + validKey, status: 200, kind: KindAPIKey},
		{name: "valid key bare", authz: validKey, scopes: []string{"users:read", "keys:read"}, status: 200, kind: KindAPIKey},
		{name: "valid token", authz: "Bearer " + goodTok, scopes: []string{"users:read"}, status: 200, kind: KindAccessToken},
		{name: "key lacks scope", authz: "Bearer " + validKey, scopes: []string{"users:read", "keys:write"}, status: 403, code: "insufficient_scope",
			challenge: `Bearer realm="latchkey", error="insufficient_scope", scope="users:read keys:write"`},
		{name: "token lacks scope", authz: "Bearer " + keyTok, scopes: []string{"keys:read"}, status: 403, code: "insufficient_scope",
			challenge: `Bearer realm="latchkey", error="insufficient_scope", scope="keys:read"`},
		{name: "latchkey down (key)", authz: "Bearer " + validKey, unavail: true, status: 503, code: "unavailable"},
		{name: "latchkey down (token)", authz: "Bearer " + goodTok, unavail: true, status: 503, code: "unavailable"},
	}

	type flavour struct {
		name  string
		build func(v *Verifier, scopes []string) http.Handler
	}
	flavours := []flavour{
		{name: "net/http", build: func(v *Verifier, scopes []string) http.Handler {
			return v.Middleware(scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, ok := IdentityFrom(r.Context())
				if !ok {
					http.Error(w, "no identity", 500)
					return
				}
				_ = json.NewEncoder(w).Encode(id)
			}))
		}},
		{name: "gin", build: func(v *Verifier, scopes []string) http.Handler {
			e := gin.New()
			e.GET("/", v.Gin(scopes...), func(c *gin.Context) {
				id, ok := GinIdentity(c)
				id2, ok2 := IdentityFrom(c.Request.Context())
				if !ok || !ok2 || id != id2 {
					c.String(500, "no identity")
					return
				}
				c.JSON(200, id)
			})
			return e
		}},
	}
	for _, fl := range flavours {
		for _, c := range cases {
			t.Run(fl.name+"/"+c.name, func(t *testing.T) {
				base := f.URL
				if c.unavail {
					base = down.URL
				}
				v := NewVerifier(base, rsID, rsSecret)
				h := fl.build(v, c.scopes)
				req := httptest.NewRequest("GET", "/", nil)
				if c.authz != "" {
					req.Header.Set("Authorization", c.authz)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
				}
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if c.status == 200 {
					if body["kind"] != c.kind || body["subject"] != "user-1" {
						t.Fatalf("identity %v", body)
					}
					return
				}
				if body["error"] != c.code || body["message"] == "" {
					t.Fatalf("body %v", body)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != c.challenge {
					t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
				}
				if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
					t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
				}
			})
		}
	}
}

func TestMiddlewareRealmAndIdentityHelpers(t *testing.T) {
	f := newFakeLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithRealm("orders"))
	rec := httptest.NewRecorder()
	v.Middleware()(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("WWW-Authenticate") != `Bearer realm="orders"` {
		t.Fatalf("challenge %q", rec.Header().Get("WWW-Authenticate"))
	}
	if _, ok := IdentityFrom(context.Background()); ok {
		t.Fatal("identity in an empty context")
	}
	id := &Identity{Kind: KindAPIKey, Scopes: []string{"a"}}
	got, ok := IdentityFrom(WithIdentity(context.Background(), id))
	if !ok || got != id || !got.HasScope("a") || got.HasScope("b") {
		t.Fatal("WithIdentity/IdentityFrom round trip")
	}
	var nilID *Identity
	if nilID.HasScope("a") {
		t.Fatal("nil identity has a scope")
	}
}
