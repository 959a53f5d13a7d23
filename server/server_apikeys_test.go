package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/oauth"
)

func TestAPIKeyLifecycle(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "dana", "dana-password-123")
	pw := basicHeader("dana", "dana-password-123")

	// POST /user/keys with handle/alias, then GET /user/keys/{handle}, then GET /user.
	code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"ci","alias":"CI pipeline","expires_in":86400,"environment":"live","tier":"pro"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, k)
	}
	key, _ := k["key"].(string)
	if !strings.HasPrefix(key, "lk_live_") || k["handle"] != "ci" || k["alias"] != "CI pipeline" || k["tier"] != "pro" || k["expires_at"] == nil {
		t.Fatalf("create answer %v", k)
	}
	if p, _ := k["prefix"].(string); !strings.HasPrefix(key, p) || len(p) != len("lk_live_")+4 {
		t.Fatalf("prefix %q", p)
	}
	code, got, _ := apiCall(t, "GET", s.URL+"/user/keys/ci", pw, "")
	if code != 200 || got["key"] != nil || got["id"] != k["id"] {
		t.Fatalf("get: %d %v (the key must never be shown again)", code, got)
	}
	code, list, _ := apiCall(t, "GET", s.URL+"/user/keys", "Bearer "+key, "")
	if code != 200 || len(list["keys"].([]any)) != 1 || strings.Contains(mustJSON(list), key) {
		t.Fatalf("list: %d %v", code, list)
	}
	code, me, _ := apiCall(t, "GET", s.URL+"/user", "Bearer "+key, "")
	if code != 200 || me["username"] != "dana" || me["tenants"] == nil {
		t.Fatalf("/user: %d %v", code, me)
	}
	code, me2, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+key, "")
	if code != 200 || me2["id"] != me["id"] {
		t.Fatalf("/v1/users/me: %d %v", code, me2)
	}
	code, bad, h := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer lk_live_nope", "")
	if code != 401 || bad["error"] != "invalid_api_key" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("invalid key: %d %v %v", code, bad, h)
	}
	code, bad, _ = apiCall(t, "GET", s.URL+"/v1/users/me", "", "")
	if code != 401 || bad["error"] != "missing_api_key" {
		t.Fatalf("missing key: %d %v", code, bad)
	}

	// Flare: key → /tokens/generate (bare and Bearer) → /tokens/test.
	for _, auth := range []string{key, "Bearer " + key} {
		code, tok, _ := apiCall(t, "POST", s.URL+"/tokens/generate", auth, "")
		if code != 200 || tok["token_type"] != "Bearer" || tok["expires_in"].(float64) < 3590 || tok["token"] == "" {
			t.Fatalf("generate with %q: %d %v", auth[:10], code, tok)
		}
		code, tt, _ := apiCall(t, "GET", s.URL+"/tokens/test", "Bearer "+tok["token"].(string), "")
		if code != 200 || tt["valid"] != true || tt["kind"] != "api_token" || tt["subject"] != me["id"] {
			t.Fatalf("tokens/test: %d %v", code, tt)
		}
	}
	code, tt, _ := apiCall(t, "GET", s.URL+"/tokens/test", "Bearer "+key, "")
	if code != 200 || tt["kind"] != "api_key" {
		t.Fatalf("tokens/test with the key: %d %v", code, tt)
	}

	// Read-only keys get 403 on writes with the documented body.
	_, ro, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"ro","scopes":["read-only"]}`)
	roKey := ro["key"].(string)
	code, bad, _ = apiCall(t, "POST", s.URL+"/user/keys", "Bearer "+roKey, `{"handle":"x"}`)
	if code != 403 || bad["error"] != "forbidden" || bad["message"] != "This operation requires a read-write key" {
		t.Fatalf("read-only write: %d %v", code, bad)
	}
	// Duplicate handle and scopes beyond the caller.
	if code, bad, _ = apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"ci"}`); code != 409 || bad["error"] != "conflict" {
		t.Fatalf("duplicate: %d %v", code, bad)
	}
	_, narrow, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"kw","scopes":["keys:write","keys:read"]}`)
	if code, bad, _ = apiCall(t, "POST", s.URL+"/user/keys", "Bearer "+narrow["key"].(string), `{"handle":"wide","scopes":["users:read"]}`); code != 403 {
		t.Fatalf("beyond the caller's rights: %d %v", code, bad)
	}
	// Keys in the query string are refused with a message.
	if code, bad, _ = apiCall(t, "GET", s.URL+"/user?api_key="+url.QueryEscape(key), "", ""); code != 400 || !strings.Contains(bad["message"].(string), "Authorization header") {
		t.Fatalf("query key: %d %v", code, bad)
	}

	// Rotate with no grace: the old key dies at once, the new one works.
	code, rot, _ := apiCall(t, "POST", s.URL+"/user/keys/ci/rotate", pw, `{"grace_seconds":0}`)
	newKey, _ := rot["key"].(string)
	if code != 201 || newKey == "" || newKey == key || rot["tier"] != "pro" {
		t.Fatalf("rotate: %d %v", code, rot)
	}
	if code, bad, _ = apiCall(t, "GET", s.URL+"/user", "Bearer "+key, ""); code != 401 {
		t.Fatalf("old key after rotation: %d %v", code, bad)
	}
	_, tok, _ := apiCall(t, "POST", s.URL+"/tokens/generate", "Bearer "+newKey, "")
	token := tok["token"].(string)
	if code, _, _ = apiCall(t, "GET", s.URL+"/user", "Bearer "+newKey, ""); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	// Revoke: rejected on the very next request, and its exchanged token too.
	if code, _, _ = apiCall(t, "DELETE", s.URL+"/user/keys/ci", pw, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, _ = apiCall(t, "GET", s.URL+"/user", "Bearer "+newKey, ""); code != 401 {
		t.Fatalf("revoked key: %d", code)
	}
	if code, _, _ = apiCall(t, "GET", s.URL+"/tokens/test", "Bearer "+token, ""); code != 401 {
		t.Fatalf("token of a revoked key: %d", code)
	}

	// Resource servers: a client token with keys:verify of a client flagged resource_server.
	cid, csec := s.CreateClient(t, oauth.ClientSpec{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: true})
	rsAuth := "Bearer " + clientToken(t, s, cid, csec, "keys:verify")
	for _, tc := range []struct {
		key, code string
		scopes    string
	}{
		{roKey, "VALID", `[]`},
		{roKey, "INSUFFICIENT_SCOPE", `["keys:write"]`},
		{newKey, "REVOKED", `[]`},
		{key, "EXPIRED", `[]`},
		{"lk_live_garbage", "NOT_FOUND", `[]`},
	} {
		code, v, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", rsAuth, `{"key":"`+tc.key+`","scopes":`+tc.scopes+`}`)
		if code != 200 || v["code"] != tc.code || (v["valid"] == true) != (tc.code == "VALID") {
			t.Fatalf("verify %s: %d %v", tc.code, code, v)
		}
	}
	if code, _, _ = apiCall(t, "POST", s.URL+"/v1/keys/verify", "Bearer "+roKey, `{"key":"x"}`); code != 403 {
		t.Fatalf("verify without keys:verify: %d", code)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAPIBasicAuthThrottled: password guessing over HTTP Basic is throttled
// like the login form (per username and per IP), with a 429 and Retry-After.
func TestAPIBasicAuthThrottled(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "gus", "gus-password-12345")
	for i := 0; i < 10; i++ {
		if code, body, _ := apiCall(t, "GET", s.URL+"/user/keys", basicHeader("gus", "wrong-guess"), ""); code != 401 || body["error"] != "unauthorized" {
			t.Fatalf("guess %d: %d %v", i, code, body)
		}
	}
	code, body, h := apiCall(t, "GET", s.URL+"/user/keys", basicHeader("gus", "gus-password-12345"), "")
	if code != 429 || body["error"] != "rate_limit_exceeded" || h.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d %v %v", code, body, h)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/user/keys", basicHeader("other", "x"), ""); code != 429 {
		t.Fatalf("the same IP guessing another username: %d", code)
	}
}

// introspect posts token to /oauth/introspect as the given client.
func introspect(t testing.TB, s *testServer, id, sec, token, hint string) map[string]any {
	t.Helper()
	v := url.Values{"token": {token}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/introspect", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("introspect: %d %v", resp.StatusCode, err)
	}
	return m
}

// TestFlareStylePrefixAndIntrospection: a deployment with prefix flr_pat
// issues flr_pat_ keys, accepts them bare or as Bearer, and resource servers
// can introspect keys and the tokens exchanged from them.
func TestFlareStylePrefixAndIntrospection(t *testing.T) {
	s := newTestServerWith(t, func(c *config.Config) { c.Keys.Prefix = "flr_pat" })
	s.CreateUser(t, "flo", "flo-password-12345")
	pw := basicHeader("flo", "flo-password-12345")
	code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"scoped","scopes":["users:read","keys:read"],"environment":"test"}`)
	key, _ := k["key"].(string)
	if code != 201 || !strings.HasPrefix(key, "flr_pat_test_") {
		t.Fatalf("create: %d %v", code, k)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/user/keys", "Bearer "+key, ""); code != 200 {
		t.Fatalf("flr_pat key as Bearer: %d", code)
	}
	code, tok, _ := apiCall(t, "POST", s.URL+"/tokens/generate", key, "")
	if code != 200 || tok["scope"] != "keys:read users:read" {
		t.Fatalf("bare key exchange: %d %v", code, tok)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/user/keys", "Bearer "+tok["token"].(string), ""); code != 200 {
		t.Fatalf("exchanged token: %d", code)
	}
	if code, b, _ := apiCall(t, "POST", s.URL+"/user/keys", "Bearer "+key, `{"handle":"x"}`); code != 403 || b["message"] != "This operation requires a read-write key" {
		t.Fatalf("read-only key writing: %d %v", code, b)
	}
	// Only a client flagged as a resource server may introspect keys and
	// tokens of others (issue 10).
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "rs", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: true})
	for _, hint := range []string{"", "api_key"} {
		m := introspect(t, s, id, sec, key, hint)
		if m["active"] != true || m["token_type"] != "api_key" || m["key_id"] != k["id"] || m["scope"] != "keys:read users:read" {
			t.Fatalf("introspect key (hint %q): %v", hint, m)
		}
	}
	m := introspect(t, s, id, sec, tok["token"].(string), "")
	if m["active"] != true || m["key_id"] != k["id"] || m["token_use"] != "access_token" {
		t.Fatalf("introspect exchanged token: %v", m)
	}
	if code, _, _ := apiCall(t, "DELETE", s.URL+"/user/keys/scoped", pw, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	for _, tk := range []string{key, tok["token"].(string)} {
		if m := introspect(t, s, id, sec, tk, ""); m["active"] != false || len(m) != 1 {
			t.Fatalf("introspect after revocation: %v", m)
		}
	}
}

// rsServerClient creates a client_credentials client with keys:verify,
// flagged resource_server or not, and returns a token of it.
func rsServerClient(t *testing.T, s *testServer, resourceServer bool) string {
	t.Helper()
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: resourceServer})
	return "Bearer " + clientToken(t, s, id, sec, "keys:verify")
}

// TestVerifyKeyOnlyForResourceServers (black-box review of issue 10,
// medium): POST /v1/keys/verify answers only a resource server's
// client_credentials token. A user's read-write key (the preset includes
// keys:verify), the browser session, HTTP Basic and a client not flagged
// resource_server get 403 naming `latchkey client create
// --resource-server`, and learn nothing about the key.
func TestVerifyKeyOnlyForResourceServers(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "vera", "vera-password-123")
	pw := basicHeader("vera", "vera-password-123")
	_, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"target","scopes":["users:read"]}`)
	target := k["key"].(string)
	_, k, _ = apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"rw","scopes":["read-write"]}`)
	rw := k["key"].(string)
	body := fmt.Sprintf(`{"key":%q}`, target)
	refused := func(name string, code int, v map[string]any) {
		t.Helper()
		msg, _ := v["message"].(string)
		if code != http.StatusForbidden || v["error"] != "forbidden" || !strings.Contains(msg, "latchkey client create --resource-server") || v["owner"] != nil {
			t.Errorf("%s: %d %v, want 403 forbidden naming --resource-server", name, code, v)
		}
	}
	for _, tc := range []struct{ name, auth string }{
		{"read-write api key", "Bearer " + rw},
		{"HTTP Basic", pw},
		{"client not flagged resource_server", rsServerClient(t, s, false)},
	} {
		code, v, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", tc.auth, body)
		refused(tc.name, code, v)
	}

	// The browser session, with the CSRF header the API asks of it.
	c := flowtest.Browser(t)
	s.Login(t, c, "vera", "vera-password-123")
	page, err := c.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/keys/verify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", page.Header.Get("X-CSRF-Token"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	refused("session", resp.StatusCode, v)

	code, v, _ := apiCall(t, "POST", s.URL+"/v1/keys/verify", rsServerClient(t, s, true), body)
	if code != http.StatusOK || v["code"] != "VALID" || v["owner"] == nil {
		t.Fatalf("resource server: %d %v, want 200 VALID", code, v)
	}
}

// TestMalformedKeys: garbage credentials are refused with 401 and the
// documented body, never a 5xx.
func TestMalformedKeys(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "mal", "mal-password-12345")
	_, k, _ := apiCall(t, "POST", s.URL+"/user/keys", basicHeader("mal", "mal-password-12345"), `{"handle":"good"}`)
	good := k["key"].(string)
	flip := good[:len(good)-1] + map[bool]string{true: "A", false: "B"}[good[len(good)-1] != 'A']
	tests := []struct{ name, auth, code string }{
		{"wrong checksum", "Bearer " + flip, "invalid_api_key"},
		{"wrong prefix", "Bearer xx" + good[2:], "invalid_api_key"},
		{"truncated", "Bearer " + good[:20], "invalid_api_key"},
		{"10 KB", "Bearer lk_live_" + strings.Repeat("A", 10<<10), "invalid_api_key"},
		{"unicode", "Bearer lk_live_ключ_ключ", "invalid_api_key"},
		{"empty bearer", "Bearer ", "missing_api_key"},
		{"unknown scheme", "Token " + good, "invalid_api_key"},
		{"garbage bare", "garbage", "invalid_api_key"},
		{"nul byte", "Bearer lk_live_\x00", "invalid_api_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+"/v1/users/me", nil)
			req.Header["Authorization"] = []string{tc.auth}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Skipf("client refused to send this header: %v", err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != 401 || m["error"] != tc.code || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("%d %v %v", resp.StatusCode, m, resp.Header)
			}
		})
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+good, ""); code != 200 {
		t.Fatalf("the good key after the garbage: %d", code)
	}
}

// TestRecoverableKeysAndPatch: with keys.recoverable the owner signed in by
// password sees the key again, nobody else does; PATCH only narrows.
func TestRecoverableKeysAndPatch(t *testing.T) {
	s := newTestServerWith(t, func(c *config.Config) { c.Keys.Recoverable = true })
	s.CreateUser(t, "rex", "rex-password-12345")
	pw := basicHeader("rex", "rex-password-12345")
	_, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"r","scopes":["keys:read","keys:write","users:read"]}`)
	key := k["key"].(string)
	if code, got, _ := apiCall(t, "GET", s.URL+"/user/keys/r", pw, ""); code != 200 || got["key"] != key {
		t.Fatalf("owner by password: %d %v", code, got)
	}
	if code, got, _ := apiCall(t, "GET", s.URL+"/user/keys/r", "Bearer "+key, ""); code != 200 || got["key"] != nil {
		t.Fatalf("an API key must not reveal keys: %d %v", code, got)
	}
	tests := []struct {
		name, body string
		code       int
	}{
		{"narrow scopes", `{"scopes":["keys:read","keys:write"]}`, 200},
		{"widen scopes", `{"scopes":["keys:read","users:read"]}`, 403},
		{"alias", `{"alias":"renamed"}`, 200},
		{"expiry", `{"expires_in":3600}`, 200},
		{"negative expiry", `{"expires_in":-5}`, 400},
		{"unknown field", `{"colour":"red"}`, 400},
		{"wrong type", `{"alias":5}`, 400},
		{"broken json", `{"alias":`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, b, _ := apiCall(t, "PATCH", s.URL+"/user/keys/r", pw, tc.body); code != tc.code {
				t.Fatalf("%d %v", code, b)
			}
		})
	}
	_, got, _ := apiCall(t, "GET", s.URL+"/user/keys/r", pw, "")
	if got["alias"] != "renamed" || len(got["scopes"].([]any)) != 2 || got["expires_at"] == nil {
		t.Fatalf("after patches: %v", got)
	}
	if code, _, _ := apiCall(t, "PATCH", s.URL+"/user/keys/nope", pw, `{"alias":"x"}`); code != 404 {
		t.Fatalf("patch missing key: %d", code)
	}
	req, _ := http.NewRequest("POST", s.URL+"/user/keys", strings.NewReader(`{"handle":"t"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", pw)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: %d", resp.StatusCode)
	}
	big := `{"handle":"big","alias":"` + strings.Repeat("a", 1<<20) + `"}`
	if code, b, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, big); code != 413 || b["error"] != "payload_too_large" {
		t.Fatalf("1 MB body: %d %v", code, b)
	}
}
