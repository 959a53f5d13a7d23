package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/openapitest"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

var testScopes = []string{"keys:read", "keys:verify", "keys:write", "users:read"}

// testClock is the key service's clock; tests move it to end a grace.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// fixture is the JSON API over the real key service and OAuth provider on
// a fresh SQLite database, wired as `latchkey serve` wires them (the
// provider bounds key tokens by the key service, the key service hears
// storage's invalidations). The owner signs in with the X-Test-Session
// header, which the session hook accepts.
type fixture struct {
	t      *testing.T
	engine *gin.Engine
	keys   *keys.Service
	oauth  *oauth.Provider
	db     *storage.DB
	clock  *testClock
	userID string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "api.db"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{4}, 32)})
	signing, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, clock: &testClock{}, userID: "user-1"}
	var ks *keys.Service
	p, err := oauth.New(oauth.Config{
		Issuer: "https://issuer.example", AccessTokenLifespan: time.Hour, RefreshTokenLifespan: 24 * time.Hour,
		AuthorizeCodeLifespan: 10 * time.Minute, IDTokenLifespan: time.Hour,
		HMACKey: bytes.Repeat([]byte{7}, 32), SigningKey: signing, SigningKeyID: "k1", Hasher: h,
		KeyState: func(ctx context.Context, id string) (oauth.KeyState, error) {
			k, err := ks.Current(ctx, id)
			if errors.Is(err, keys.ErrRevoked) || errors.Is(err, keys.ErrExpired) || errors.Is(err, keys.ErrNotFound) {
				return oauth.KeyState{}, oauth.ErrInvalidToken
			} else if err != nil {
				return oauth.KeyState{}, err
			}
			st := oauth.KeyState{Scopes: k.Scopes}
			if k.ExpiresAt != nil {
				st.ExpiresAt = *k.ExpiresAt
			}
			return st, nil
		},
	}, db, db)
	if err != nil {
		t.Fatal(err)
	}
	ks = keys.New(keys.Config{Format: keys.NewFormat("lk"), Hasher: h, Scopes: testScopes, Tiers: []string{"free", "pro", "enterprise"},
		RevokeTokens: p.RevokeKeyTokens, Now: f.clock.now}, db)
	db.OnChange(ks.Invalidate)
	t.Cleanup(func() { _ = ks.Close(context.Background()); _ = db.Close() })
	if err := db.CreateUser(t.Context(), &storage.User{ID: f.userID, Username: "alice", PasswordHash: "-"}); err != nil {
		t.Fatal(err)
	}
	api := New(Config{Keys: ks, Tokens: p, Users: db, Logger: slog.New(slog.DiscardHandler),
		SessionUser: func(r *http.Request) (string, bool) {
			return f.userID, r.Header.Get("X-Test-Session") == "alice"
		}})
	gin.SetMode(gin.TestMode)
	e := gin.New()
	// The routes of server.mountAPI.
	g := e.Group("/", api.Authenticate())
	g.GET("/tokens/test", api.TestToken)
	g.POST("/tokens/generate", api.GenerateToken)
	user := g.Group("/", RequireUser())
	user.GET("/user/keys", Require("keys:read"), api.ListKeys)
	user.GET("/user/keys/:handle", Require("keys:read"), api.GetKey)
	user.POST("/user/keys", Require("keys:write"), api.CreateKey)
	user.PATCH("/user/keys/:handle", Require("keys:write"), api.UpdateKey)
	user.DELETE("/user/keys/:handle", Require("keys:write"), api.DeleteKey)
	user.POST("/user/keys/:handle/rotate", Require("keys:write"), api.RotateKey)
	f.engine, f.keys, f.oauth = e, ks, p
	return f
}

// owner is the credential "signed in by session".
const owner = "session"

// do sends a request with cred ("session" for the owner, else a bearer
// credential) and returns the status and the decoded JSON body (nil when
// there is none).
func (f *fixture) do(cred, method, path string, body any) (int, map[string]any, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r := httptest.NewRequest(method, path, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if cred == owner {
		r.Header.Set("X-Test-Session", "alice")
	} else {
		r.Header.Set("Authorization", "Bearer "+cred)
	}
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, r)
	openapitest.MustNew(f.t).Recorded(f.t, r, w)
	raw := w.Body.Bytes()
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: %d %q is not JSON", method, path, w.Code, raw)
		}
	}
	return w.Code, out, raw
}

// create makes a key as the owner and returns its plain value.
func (f *fixture) create(cred string, body map[string]any) (string, map[string]any) {
	f.t.Helper()
	status, out, raw := f.do(cred, http.MethodPost, "/user/keys", body)
	if status != http.StatusCreated {
		f.t.Fatalf("create %v: %d %s", body, status, raw)
	}
	return out["key"].(string), out
}

func (f *fixture) token(key string) string {
	f.t.Helper()
	status, out, raw := f.do(key, http.MethodPost, "/tokens/generate", nil)
	if status != http.StatusOK {
		f.t.Fatalf("generate: %d %s", status, raw)
	}
	return out["token"].(string)
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// TestRotateWithKeysWriteOnlyCannotExceedCaller (issue 10, high 1): a key
// or an API token holding only keys:write cannot rotate, change or revoke
// the owner's broader key (403, the same answer as for a handle that does
// not exist, so handles cannot be probed), a PATCH by it returns no
// metadata, and within its rights it still rotates.
func TestRotateWithKeysWriteOnlyCannotExceedCaller(t *testing.T) {
	f := newFixture(t)
	f.create(owner, map[string]any{"handle": "admin", "scopes": []string{"read-write"}})
	writer, _ := f.create(owner, map[string]any{"handle": "writer", "scopes": []string{"keys:write"}})
	// Within both credentials: no more scopes, and no longer life than the writer key's.
	f.create(owner, map[string]any{"handle": "narrow", "scopes": []string{"keys:write"}, "expires_in": 600})

	for _, cred := range []struct{ name, value string }{{"api key", writer}, {"api token", f.token(writer)}} {
		t.Run(cred.name, func(t *testing.T) {
			for _, op := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPost, "/rotate", map[string]any{"grace_seconds": 86400}},
				{http.MethodPatch, "", map[string]any{}},
				{http.MethodPatch, "", map[string]any{"scopes": []string{"users:read"}}},
				{http.MethodDelete, "", nil},
			} {
				st1, _, broader := f.do(cred.value, op.method, "/user/keys/admin"+op.path, op.body)
				st2, _, missing := f.do(cred.value, op.method, "/user/keys/no-such-key"+op.path, op.body)
				if st1 != http.StatusForbidden || st2 != st1 || !bytes.Equal(broader, missing) {
					t.Fatalf("%s %s: broader key %d %s, missing key %d %s; want the same 403", op.method, op.path, st1, broader, st2, missing)
				}
			}
			if st, _, raw := f.do(cred.value, http.MethodPatch, "/user/keys/narrow", map[string]any{}); st != http.StatusNoContent || len(raw) != 0 {
				t.Fatalf("PATCH {} without keys:read: %d %s, want 204 and no metadata", st, raw)
			}
		})
	}
	st, admin, _ := f.do(owner, http.MethodGet, "/user/keys/admin", nil)
	if st != http.StatusOK || admin["status"] != "active" || admin["replaced_by"] != nil || len(strs(admin["scopes"])) != len(testScopes) {
		t.Fatalf("the broader key was touched: %d %v", st, admin)
	}
	if st, out, raw := f.do(writer, http.MethodPost, "/user/keys/narrow/rotate", nil); st != http.StatusCreated || out["key"] == "" {
		t.Fatalf("rotating a key within the caller: %d %s", st, raw)
	}
	// With keys:read the two cases may differ: the caller can list keys anyway.
	reader, _ := f.create(owner, map[string]any{"handle": "reader", "scopes": []string{"keys:write", "keys:read"}})
	if st, _, _ := f.do(reader, http.MethodPost, "/user/keys/admin/rotate", nil); st != http.StatusForbidden {
		t.Fatalf("keys:read+write rotating a broader key: %d", st)
	}
	if st, _, _ := f.do(reader, http.MethodPost, "/user/keys/no-such-key/rotate", nil); st != http.StatusNotFound {
		t.Fatalf("keys:read+write rotating a missing key: %d", st)
	}
}

// TestKeyTokenNeverMoreThanItsKey (issue 10, medium 5): a token from
// /tokens/generate follows its key on every use — narrowed with a PATCH,
// clamped to a shortened expiry, refused once a rotation's grace has
// ended — and the keys it creates never outlive its key.
func TestKeyTokenNeverMoreThanItsKey(t *testing.T) {
	f := newFixture(t)
	key, _ := f.create(owner, map[string]any{"handle": "svc", "scopes": []string{"read-write"}, "expires_in": 48 * 3600})
	tok := f.token(key)

	st, info, _ := f.do(tok, http.MethodGet, "/tokens/test", nil)
	if st != http.StatusOK || info["kind"] != KindAPIToken || len(strs(info["scopes"])) != len(testScopes) {
		t.Fatalf("fresh token: %d %v", st, info)
	}

	t.Run("keys created by the token never outlive its key", func(t *testing.T) {
		_, kv, _ := f.do(owner, http.MethodGet, "/user/keys/svc", nil)
		keyExp, _ := time.Parse(time.RFC3339, kv["expires_at"].(string))
		_, child := f.create(tok, map[string]any{"handle": "from-token", "expires_in": 30 * 86400})
		exp, _ := time.Parse(time.RFC3339, child["expires_at"].(string))
		if child["expires_at"] == nil || exp.After(keyExp) {
			t.Fatalf("a key made by the token of a key expiring at %v expires at %v", keyExp, child["expires_at"])
		}
		parent, _ := child["parent"].(map[string]any)
		if parent == nil || parent["key_id"] != kv["id"] {
			t.Fatalf("no lineage on %v", child)
		}
	})

	t.Run("narrowing the key narrows the token", func(t *testing.T) {
		if st, _, raw := f.do(owner, http.MethodPatch, "/user/keys/svc", map[string]any{"scopes": []string{"users:read"}, "expires_in": 600}); st != http.StatusOK {
			t.Fatalf("PATCH: %d %s", st, raw)
		}
		st, info, _ := f.do(tok, http.MethodGet, "/tokens/test", nil)
		if st != http.StatusOK || !slices.Equal(strs(info["scopes"]), []string{"users:read"}) {
			t.Fatalf("token after narrowing: %d %v", st, info)
		}
		exp, _ := time.Parse(time.RFC3339, info["expires_at"].(string))
		if exp.After(time.Now().Add(601 * time.Second)) {
			t.Fatalf("token expiry %v not clamped to the key's 10 minutes", exp)
		}
		if st, _, _ := f.do(tok, http.MethodPost, "/user/keys", map[string]any{"handle": "sneaky"}); st != http.StatusForbidden {
			t.Fatalf("a token whose key lost keys:write created a key: %d", st)
		}
	})

	t.Run("a rotation's grace ends the token", func(t *testing.T) {
		if st, _, raw := f.do(owner, http.MethodPost, "/user/keys/svc/rotate", map[string]any{"grace_seconds": 60}); st != http.StatusCreated {
			t.Fatalf("rotate: %d %s", st, raw)
		}
		if st, _, _ := f.do(tok, http.MethodGet, "/tokens/test", nil); st != http.StatusOK {
			t.Fatalf("token inside the grace: %d", st)
		}
		f.clock.add(61 * time.Second)
		if st, _, raw := f.do(tok, http.MethodGet, "/tokens/test", nil); st != http.StatusUnauthorized {
			t.Fatalf("token after the grace: %d %s", st, raw)
		}
	})
}

// TestAPITokenExpiryBoundIsItsKeys (issue 10, finding 1/5 refined): a
// token from /tokens/generate acts on keys with its key's life now, not
// with its own hour — the token of a key without expiry rotates and
// changes that key and creates keys without expiry; the token of a key
// ending at T creates keys ending no later than T, however long they are
// asked to live, follows a PATCH shortening T, and still cannot touch a
// key that outlives T.
func TestAPITokenExpiryBoundIsItsKeys(t *testing.T) {
	f := newFixture(t)

	t.Run("key without expiry", func(t *testing.T) {
		key, kv := f.create(owner, map[string]any{"handle": "forever", "scopes": []string{"read-write"}})
		tok := f.token(key)
		if _, info, _ := f.do(tok, http.MethodGet, "/tokens/test", nil); info["expires_at"] == nil {
			t.Fatalf("the token itself should still expire: %v", info)
		}
		_, child := f.create(tok, map[string]any{"handle": "forever-child"})
		if child["expires_at"] != nil {
			t.Fatalf("a key made by the token of a key without expiry expires at %v", child["expires_at"])
		}
		if p, _ := child["parent"].(map[string]any); p == nil || p["key_id"] != kv["id"] {
			t.Fatalf("child's parent %v, want key %v", child["parent"], kv["id"])
		}
		if st, _, raw := f.do(tok, http.MethodPatch, "/user/keys/forever", map[string]any{"alias": "renamed"}); st != http.StatusOK {
			t.Fatalf("the token patching its own key: %d %s", st, raw)
		}
		st, fresh, raw := f.do(tok, http.MethodPost, "/user/keys/forever/rotate", map[string]any{"grace_seconds": 60})
		if st != http.StatusCreated {
			t.Fatalf("the token rotating its own key: %d %s", st, raw)
		}
		if fresh["expires_at"] != nil || fresh["id"] == kv["id"] {
			t.Fatalf("the rotated key: %v", fresh)
		}
		if st, _, raw := f.do(fresh["key"].(string), http.MethodGet, "/tokens/test", nil); st != http.StatusOK {
			t.Fatalf("the new key: %d %s", st, raw)
		}
	})

	t.Run("key ending at T", func(t *testing.T) {
		key, kv := f.create(owner, map[string]any{"handle": "dated", "scopes": []string{"read-write"}, "expires_in": 48 * 3600})
		keyExp, _ := time.Parse(time.RFC3339, kv["expires_at"].(string))
		tok := f.token(key)
		for i, body := range []map[string]any{{}, {"expires_in": 30 * 86400}} {
			body["handle"] = fmt.Sprintf("dated-child-%d", i)
			_, child := f.create(tok, body)
			exp, _ := time.Parse(time.RFC3339, fmt.Sprint(child["expires_at"]))
			if child["expires_at"] == nil || !exp.Equal(keyExp) {
				t.Fatalf("%v: child expires at %v, want its key's %v (not the token's hour)", body, child["expires_at"], keyExp)
			}
		}
		// The key without expiry outlives T: the token cannot touch it.
		f.create(owner, map[string]any{"handle": "undated", "scopes": []string{"users:read"}})
		if st, _, raw := f.do(tok, http.MethodPost, "/user/keys/undated/rotate", nil); st != http.StatusForbidden {
			t.Fatalf("rotating a key outliving the token's key: %d %s", st, raw)
		}
		// The bound is the key's expiry now.
		if st, _, raw := f.do(owner, http.MethodPatch, "/user/keys/dated", map[string]any{"expires_in": 600}); st != http.StatusOK {
			t.Fatalf("PATCH: %d %s", st, raw)
		}
		_, child := f.create(tok, map[string]any{"handle": "after-patch", "expires_in": 3600})
		if exp, _ := time.Parse(time.RFC3339, fmt.Sprint(child["expires_at"])); child["expires_at"] == nil || exp.After(f.clock.now().Add(601*time.Second)) {
			t.Fatalf("after the key was shortened to 10 minutes its token made a key expiring at %v", child["expires_at"])
		}
	})
}

// TestAuthorityExpiryBound (issue 10, finding 1/5 refined): the expiry
// bound of a credential acting on keys is the life of what it stands for —
// an API key's or API token's key, no time for an OAuth grant's token (its
// keys end with the grant), none for the owner signed in — never the
// bearer string's own hour.
func TestAuthorityExpiryBound(t *testing.T) {
	hour := time.Now().Add(time.Hour)
	day := time.Now().Add(24 * time.Hour)
	tests := []struct {
		name  string
		p     Principal
		want  *time.Time
		grant string
	}{
		{"api key", Principal{Kind: KindAPIKey, KeyID: "k", ExpiresAt: &day, KeyExpiresAt: &day}, &day, ""},
		{"api key without expiry", Principal{Kind: KindAPIKey, KeyID: "k"}, nil, ""},
		{"api token of a key without expiry", Principal{Kind: KindAPIToken, KeyID: "k", ExpiresAt: &hour}, nil, ""},
		{"api token of a key ending in a day", Principal{Kind: KindAPIToken, KeyID: "k", ExpiresAt: &hour, KeyExpiresAt: &day}, &day, ""},
		{"oauth token of a grant without end", Principal{Kind: KindOAuthToken, GrantID: "g", ClientID: "c", ExpiresAt: &hour}, nil, "g"},
		{"oauth token of a grant ending in a day", Principal{Kind: KindOAuthToken, GrantID: "g", ClientID: "c", ExpiresAt: &hour, GrantEndsAt: &day}, &day, "g"},
		{"oauth token without a grant", Principal{Kind: KindOAuthToken, ClientID: "c", ExpiresAt: &hour}, &hour, ""},
		{"session", Principal{Kind: KindSession}, nil, ""},
		{"password", Principal{Kind: KindPassword}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.p.authority()
			if (a.ExpiresAt == nil) != (tc.want == nil) || (a.ExpiresAt != nil && !a.ExpiresAt.Equal(*tc.want)) {
				t.Fatalf("expiry bound %v, want %v", a.ExpiresAt, tc.want)
			}
			if a.GrantID != tc.grant || a.KeyID != tc.p.KeyID {
				t.Fatalf("lineage: grant %q key %q", a.GrantID, a.KeyID)
			}
		})
	}
}

// TestConcurrentRotationsAnswer409 (issue 10, low): of concurrent
// rotations of one key the losers get 409 conflict, never a 5xx.
func TestConcurrentRotationsAnswer409(t *testing.T) {
	f := newFixture(t)
	f.create(owner, map[string]any{"handle": "hot"})
	var wg sync.WaitGroup
	codes := make(chan int, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, _ := f.do(owner, http.MethodPost, "/user/keys/hot/rotate", map[string]any{"grace_seconds": 60})
			codes <- st
		}()
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	if seen[http.StatusCreated] == 0 || seen[http.StatusCreated]+seen[http.StatusConflict] != 6 {
		t.Fatalf("answers %v, want 201 and 409 only", seen)
	}
	// Each success replaced a different key: one key holds the handle,
	// every other one was replaced exactly once.
	_, list, _ := f.do(owner, http.MethodGet, "/user/keys", nil)
	ks := list["keys"].([]any)
	if len(ks) != seen[http.StatusCreated]+1 {
		t.Fatalf("%d keys after %d successful rotations", len(ks), seen[http.StatusCreated])
	}
	current := 0
	for _, k := range ks {
		kv := k.(map[string]any)
		if kv["handle"] == "hot" && kv["replaced_by"] == nil {
			current++
		} else if kv["replaced_by"] == nil {
			t.Errorf("key %v was neither replaced nor holds the handle", kv["handle"])
		}
	}
	if current != 1 {
		t.Fatalf("%d current keys named hot", current)
	}
}

// TestRevokingParentKeyRevokesItsChildren (issue 10, low): keys made by a
// key (or by its tokens) carry their parent in the view and are revoked
// with it.
func TestRevokingParentKeyRevokesItsChildren(t *testing.T) {
	f := newFixture(t)
	parent, pv := f.create(owner, map[string]any{"handle": "parent"})
	if pv["parent"] != nil {
		t.Fatalf("a key made signed in has a parent: %v", pv["parent"])
	}
	child, cv := f.create(parent, map[string]any{"handle": "child"})
	grandchild, _ := f.create(f.token(child), map[string]any{"handle": "grandchild"})
	if p, _ := cv["parent"].(map[string]any); p == nil || p["key_id"] != pv["id"] {
		t.Fatalf("child's parent %v, want key %v", cv["parent"], pv["id"])
	}
	for _, k := range []string{child, grandchild} {
		if st, _, _ := f.do(k, http.MethodGet, "/tokens/test", nil); st != http.StatusOK {
			t.Fatalf("before revocation: %d", st)
		}
	}
	if st, _, _ := f.do(owner, http.MethodDelete, "/user/keys/parent", nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	for i, k := range []string{child, grandchild} {
		if st, _, _ := f.do(k, http.MethodGet, "/tokens/test", nil); st != http.StatusUnauthorized {
			t.Fatalf("descendant %d after its ancestor was revoked: %d", i, st)
		}
	}
	_, list, _ := f.do(owner, http.MethodGet, "/user/keys", nil)
	for _, k := range list["keys"].([]any) {
		kv := k.(map[string]any)
		if kv["status"] != "revoked" {
			t.Errorf("key %v is %v", kv["handle"], kv["status"])
		}
	}
}
