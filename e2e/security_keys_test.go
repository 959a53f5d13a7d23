package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// Issue 10's findings about what an API key, or a credential derived from
// one, may do — black-box against `latchkey serve` on SQLite and, when
// LATCHKEY_TEST_POSTGRES_DSN is set, PostgreSQL.

const securityPass = "security-keys-password"

// securityServer starts one instance on backend ("sqlite" or "postgres")
// with a user alice and returns it.
func securityServer(t *testing.T, backend string) (*instance, env) {
	t.Helper()
	e := newEnv(t)
	if backend == "postgres" {
		e["LATCHKEY_STORAGE_DSN"] = postgresDSN(t)
	}
	cli(t, e, "migrate")
	cli(t, e, "user", "create", "--username", "alice", "--password", securityPass)
	return start(t, e), e
}

func forEachBackend(t *testing.T, fn func(t *testing.T, in *instance, e env)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			in, e := securityServer(t, backend)
			fn(t, in, e)
		})
	}
}

// rawAPI is api with the raw body, to compare answers byte for byte.
func rawAPI(t *testing.T, method, u string, auth func(*http.Request), body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func ownerKey(t *testing.T, in *instance, body map[string]any) (string, map[string]any) {
	t.Helper()
	status, m, _ := api(t, http.MethodPost, in.URL+"/user/keys", basic("alice", securityPass), body)
	key, _ := m["key"].(string)
	if status != http.StatusCreated || key == "" {
		t.Fatalf("create key %v: %d %v", body, status, m)
	}
	return key, m
}

func exchange(t *testing.T, in *instance, key string) string {
	t.Helper()
	status, m, _ := api(t, http.MethodPost, in.URL+"/tokens/generate", bearer(key), nil)
	tok, _ := m["token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("tokens/generate: %d %v", status, m)
	}
	return tok
}

func scopesOf(m map[string]any) []string {
	var out []string
	list, _ := m["scopes"].([]any)
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

// appToken runs the authorization-code flow for a client registered with
// scopes and returns the user's access token.
func appToken(t *testing.T, in *instance, e env, scopes ...string) (token, clientID string) {
	t.Helper()
	id, secret := createClient(t, e, "--name", "Key app", "--redirect-uri", "http://127.0.0.1:9/cb", "--scopes", strings.Join(scopes, ","))
	conf := &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: "http://127.0.0.1:9/cb", Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: in.URL + "/oauth/authorize", TokenURL: in.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(verifier))
	u := flowtest.Authorize(t, flowtest.Browser(t), in.URL, authURL, "alice", securityPass, "allow")
	tok, err := conf.Exchange(context.Background(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok.AccessToken, id
}

// TestKeysWriteOnlyCredentialCannotExceedItself (issue 10, high 1): a key,
// and an OAuth app's token, holding only keys:write neither rotate nor
// change nor revoke the owner's read-write key — 403, answered exactly as
// for a handle that does not exist — and a PATCH by them returns no
// metadata. The app's token is bound by its grant, not by its own hour:
// with offline_access the grant lasts oauth.refresh_family_lifetime (90
// days), so the app rotates a keys:write key ending within that but not
// one that never expires, and the keys it creates end with the grant at
// the latest and are revoked with the app's access.
func TestKeysWriteOnlyCredentialCannotExceedItself(t *testing.T) {
	forEachBackend(t, func(t *testing.T, in *instance, e env) {
		adminKey, _ := ownerKey(t, in, map[string]any{"handle": "admin", "scopes": []string{"read-write"}})
		writer, _ := ownerKey(t, in, map[string]any{"handle": "writer", "scopes": []string{"keys:write"}})
		app, clientID := appToken(t, in, e, "keys:write", "offline_access")

		for _, cred := range []struct{ name, value string }{{"keys:write key", writer}, {"app token with keys:write", app}} {
			t.Run(cred.name, func(t *testing.T) {
				for _, op := range []struct{ method, suffix, body string }{
					{http.MethodPost, "/rotate", `{"grace_seconds": 2592000}`},
					{http.MethodPatch, "", `{}`},
					{http.MethodDelete, "", ""},
				} {
					s1, b1 := rawAPI(t, op.method, in.URL+"/user/keys/admin"+op.suffix, bearer(cred.value), op.body)
					s2, b2 := rawAPI(t, op.method, in.URL+"/user/keys/nonexistent"+op.suffix, bearer(cred.value), op.body)
					if s1 != http.StatusForbidden || s1 != s2 || b1 != b2 {
						t.Fatalf("%s %s: admin → %d %s; nonexistent → %d %s; want the same 403", op.method, op.suffix, s1, b1, s2, b2)
					}
					if strings.Contains(b1, `"scopes"`) || strings.Contains(b1, `"key"`) {
						t.Fatalf("%s leaked key data: %s", op.method, b1)
					}
				}
			})
		}
		// The admin key is untouched and still works.
		if st, m, _ := api(t, http.MethodGet, in.URL+"/tokens/test", bearer(adminKey), nil); st != http.StatusOK || len(scopesOf(m)) < 3 {
			t.Fatalf("admin key after the attempts: %d %v", st, m)
		}

		t.Run("the app rotates a key within its scopes and its grant's life", func(t *testing.T) {
			month := time.Now().Add(30 * 24 * time.Hour)
			ownerKey(t, in, map[string]any{"handle": "app-scoped", "scopes": []string{"keys:write"}, "expires_in": 30 * 86400})
			st, fresh, _ := api(t, http.MethodPost, in.URL+"/user/keys/app-scoped/rotate", bearer(app), nil)
			exp, _ := time.Parse(time.RFC3339, fmt.Sprint(fresh["expires_at"]))
			if st != http.StatusCreated || exp.Sub(month).Abs() > time.Minute {
				t.Fatalf("rotation by the app: %d %v", st, fresh)
			}
			ownerKey(t, in, map[string]any{"handle": "app-forever", "scopes": []string{"keys:write"}})
			if st, body := rawAPI(t, http.MethodPost, in.URL+"/user/keys/app-forever/rotate", bearer(app), ""); st != http.StatusForbidden {
				t.Fatalf("the app rotated a key that outlives its grant: %d %s", st, body)
			}
		})

		t.Run("a key the app creates dies with the app's access", func(t *testing.T) {
			st, child, _ := api(t, http.MethodPost, in.URL+"/user/keys", bearer(app), map[string]any{"handle": "from-app"})
			if st != http.StatusCreated {
				t.Fatalf("create by the app: %d %v", st, child)
			}
			parent, _ := child["parent"].(map[string]any)
			if parent == nil || parent["client_id"] != clientID || parent["grant_id"] == nil {
				t.Fatalf("a key made by an app token: parent %v", child["parent"])
			}
			// Not the access token's hour: the key lives as long as the
			// grant can (90 days of refresh family by default).
			exp, _ := time.Parse(time.RFC3339, fmt.Sprint(child["expires_at"]))
			if d := time.Until(exp); d < 89*24*time.Hour || d > 90*24*time.Hour+time.Minute {
				t.Fatalf("a key made by an app token without expires_in expires at %v", child["expires_at"])
			}
			browser := flowtest.Browser(t)
			flowtest.Login(t, browser, in.URL, "alice", securityPass)
			_, page := flowtest.Get(t, browser, in.URL+"/authorized")
			resp, body := flowtest.PostForm(t, browser, in.URL+"/authorized/"+url.PathEscape(clientID)+"/revoke",
				url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}}, in.URL)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke app: %d %s", resp.StatusCode, body)
			}
			st, got, _ := api(t, http.MethodGet, in.URL+"/user/keys/from-app", basic("alice", securityPass), nil)
			if st != http.StatusOK || got["status"] != "revoked" {
				t.Fatalf("the app's key after its access was revoked: %d %v", st, got)
			}
		})
	})
}

// TestKeyTokenFollowsItsKey (issue 10, medium 5): a token from
// /tokens/generate is never more than its key now — after a PATCH narrows
// the key's scopes and life, and after a rotation's grace ends — on the
// API, at introspection, and it is revocable at /oauth/revoke.
func TestKeyTokenFollowsItsKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, in *instance, e env) {
		rsID, rsSecret := createClient(t, e, "--name", "Resource server", "--grant-types", "client_credentials", "--scopes", "keys:verify", "--resource-server")
		key, _ := ownerKey(t, in, map[string]any{"handle": "svc", "scopes": []string{"read-write"}, "expires_in": 2 * 86400})
		tok := exchange(t, in, key)

		st, m, _ := api(t, http.MethodPatch, in.URL+"/user/keys/svc", basic("alice", securityPass),
			map[string]any{"scopes": []string{"users:read"}, "expires_in": 600})
		if st != http.StatusOK {
			t.Fatalf("PATCH: %d %v", st, m)
		}
		st, m, _ = api(t, http.MethodGet, in.URL+"/tokens/test", bearer(tok), nil)
		if st != http.StatusOK || !slices.Equal(scopesOf(m), []string{"users:read"}) {
			t.Fatalf("token after the key was narrowed: %d %v", st, m)
		}
		if exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string)); exp.After(time.Now().Add(601 * time.Second)) {
			t.Fatalf("token expiry %v outlives its key's 10 minutes", exp)
		}
		if st, m, _ := api(t, http.MethodPost, in.URL+"/user/keys", bearer(tok), map[string]any{"handle": "forever"}); st != http.StatusForbidden {
			t.Fatalf("a token whose key lost keys:write created a key: %d %v", st, m)
		}
		if got := introspect(t, in, rsID, rsSecret, tok); got["active"] != true || got["scope"] != "users:read" {
			t.Fatalf("introspection after narrowing: %v", got)
		}

		st, m, _ = api(t, http.MethodPost, in.URL+"/user/keys/svc/rotate", basic("alice", securityPass), map[string]any{"grace_seconds": 1})
		if st != http.StatusCreated {
			t.Fatalf("rotate: %d %v", st, m)
		}
		time.Sleep(1500 * time.Millisecond)
		if st, _, _ := api(t, http.MethodGet, in.URL+"/tokens/test", bearer(tok), nil); st != http.StatusUnauthorized {
			t.Fatalf("token after its key's grace ended: %d", st)
		}
		if got := introspect(t, in, rsID, rsSecret, tok); got["active"] != false {
			t.Fatalf("introspection after the grace: %v", got)
		}

		t.Run("revocable at /oauth/revoke by presenting it", func(t *testing.T) {
			k2, _ := ownerKey(t, in, map[string]any{"handle": "svc2", "scopes": []string{"users:read"}})
			t2 := exchange(t, in, k2)
			resp, err := http.PostForm(in.URL+"/oauth/revoke", url.Values{"token": {t2}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d", resp.StatusCode)
			}
			if st, _, _ := api(t, http.MethodGet, in.URL+"/tokens/test", bearer(t2), nil); st != http.StatusUnauthorized {
				t.Fatalf("a revoked token still works: %d", st)
			}
		})
	})
}

// TestKeyTokenActsWithItsKeysLife (issue 10, finding 1/5 refined): a token
// from /tokens/generate acts on keys with its key's life, not its own
// hour: the token of a key without expiry rotates that key and the new key
// does not expire; the token of a key ending at T creates keys ending at
// T at the latest, however long they are asked to live.
func TestKeyTokenActsWithItsKeysLife(t *testing.T) {
	forEachBackend(t, func(t *testing.T, in *instance, e env) {
		key, _ := ownerKey(t, in, map[string]any{"handle": "forever", "scopes": []string{"read-write"}})
		tok := exchange(t, in, key)
		st, fresh, _ := api(t, http.MethodPost, in.URL+"/user/keys/forever/rotate", bearer(tok), map[string]any{"grace_seconds": 60})
		if st != http.StatusCreated || fresh["expires_at"] != nil {
			t.Fatalf("the token of a key without expiry rotating it: %d %v", st, fresh)
		}
		if st, m, _ := api(t, http.MethodGet, in.URL+"/tokens/test", bearer(fresh["key"].(string)), nil); st != http.StatusOK {
			t.Fatalf("the new key: %d %v", st, m)
		}

		dated, dv := ownerKey(t, in, map[string]any{"handle": "dated", "scopes": []string{"read-write"}, "expires_in": 2 * 86400})
		keyExp, _ := time.Parse(time.RFC3339, dv["expires_at"].(string))
		st, child, _ := api(t, http.MethodPost, in.URL+"/user/keys", bearer(exchange(t, in, dated)), map[string]any{"handle": "dated-child", "expires_in": 30 * 86400})
		if st != http.StatusCreated || child["expires_at"] == nil {
			t.Fatalf("create by the token of a dated key: %d %v", st, child)
		}
		exp, _ := time.Parse(time.RFC3339, child["expires_at"].(string))
		if exp.After(keyExp) || !exp.After(time.Now().Add(2*time.Hour)) {
			t.Fatalf("a key made by the token of a key ending at %v expires at %v; want that end, not the token's hour", keyExp, exp)
		}
		if parent, _ := child["parent"].(map[string]any); parent == nil || parent["key_id"] != dv["id"] {
			t.Fatalf("child's parent %v, want key %v", child["parent"], dv["id"])
		}
	})
}
