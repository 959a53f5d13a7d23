package server_test

// End-to-end tests of OAuth 2.0 Token Exchange (RFC 8693) at POST
// /oauth/token against the real server. golang.org/x/oauth2 has no token
// exchange, so the requests are plain HTTP.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

const exchangeAudience = "https://reports.example.com"

// exchangeEnv is a server with a person, an API key of theirs and a
// confidential client registered for token exchange.
type exchangeEnv struct {
	s        *testServer
	pw       string // the person's HTTP Basic header
	key      string // an API key with users:read and keys:read
	id, sec  string // the exchanging client
	keyScope []string
}

func newExchangeEnv(t *testing.T, mutate func(*config.Config)) *exchangeEnv {
	t.Helper()
	s := newTestServerWith(t, mutate)
	s.CreateUser(t, "erin", "erin-password-123")
	e := &exchangeEnv{s: s, pw: basicHeader("erin", "erin-password-123"), keyScope: []string{"users:read", "keys:read"}}
	e.key = e.createKey(t, "svc", `"scopes":["users:read","keys:read"]`)
	e.id, e.sec = s.CreateClient(t, oauth.ClientSpec{Name: "Exchanger", GrantTypes: []string{oauth.GrantTypeTokenExchange, "client_credentials"},
		Scopes: []string{"users:read", "keys:read", "keys:verify"}, Audience: []string{exchangeAudience}})
	return e
}

// createKey creates a key of erin's with handle and extra JSON fields.
func (e *exchangeEnv) createKey(t *testing.T, handle, extra string) string {
	t.Helper()
	body := `{"handle":"` + handle + `"`
	if extra != "" {
		body += "," + extra
	}
	code, k, _ := apiCall(t, "POST", e.s.URL+"/user/keys", e.pw, body+"}")
	if code != 201 {
		t.Fatalf("create key %s: %d %v", handle, code, k)
	}
	return k["key"].(string)
}

// exchange posts a token exchange request as client id/sec, as a form or
// (asJSON) a JSON body, and returns the status and decoded answer.
func exchangeAs(t testing.TB, s *testServer, id, sec string, v url.Values, asJSON bool) (int, map[string]any) {
	t.Helper()
	if v.Get("grant_type") == "" {
		v.Set("grant_type", oauth.GrantTypeTokenExchange)
	}
	ct, body := "application/x-www-form-urlencoded", []byte(v.Encode())
	if asJSON {
		m := map[string]string{}
		for k := range v {
			m[k] = v.Get(k)
		}
		body, _ = json.Marshal(m)
		ct = "application/json"
	}
	resp, b := call(t, http.MethodPost, s.URL+"/oauth/token", ct, body, basicAuth(id, sec))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token endpoint answered %d with no JSON object: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func (e *exchangeEnv) exchange(t testing.TB, v url.Values) (int, map[string]any) {
	t.Helper()
	return exchangeAs(t, e.s, e.id, e.sec, v, false)
}

func keySubject(key string) url.Values {
	return url.Values{"subject_token": {key}, "subject_token_type": {oauth.TokenTypeAPIKey}}
}

func tokenSubject(tok string) url.Values {
	return url.Values{"subject_token": {tok}, "subject_token_type": {oauth.TokenTypeAccessToken}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// wantIssued checks an RFC 8693 §2.2.1 answer and returns its token.
func wantIssued(t testing.TB, code int, m map[string]any, scope string) string {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("exchange: %d %v", code, m)
	}
	tok, _ := m["access_token"].(string)
	if tok == "" || m["issued_token_type"] != oauth.TokenTypeAccessToken || !strings.EqualFold(fmt.Sprint(m["token_type"]), "bearer") {
		t.Fatalf("exchange answer %v", m)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Errorf("an exchanged token comes without a refresh token: %v", m)
	}
	if exp, _ := m["expires_in"].(float64); exp <= 0 || exp > 3600 {
		t.Errorf("expires_in = %v", m["expires_in"])
	}
	if scope != "" && m["scope"] != scope {
		t.Errorf("scope = %v, want %q", m["scope"], scope)
	}
	return tok
}

func introspectWith(t testing.TB, s *testServer, id, sec, token string) map[string]any {
	t.Helper()
	resp, b := postValues(t, s.URL+"/oauth/introspect", url.Values{"token": {token}}, basicAuth(id, sec))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %s", resp.StatusCode, b)
	}
	return decodeObject(t, b)
}

// TestTokenExchangeAPIKey: an API key is exchanged for a narrower token
// (form and JSON bodies), which calls Latchkey's API with the narrower
// scope only, is bound to the key (revoking the key ends it at once) and
// is counted as token_exchange.
func TestTokenExchangeAPIKey(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testTokenExchangeAPIKey(t, newExchangeEnv(t, func(c *config.Config) { b.Configure(t, c) }))
		})
	}
}

func testTokenExchangeAPIKey(t *testing.T, e *exchangeEnv) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			code, m := exchangeAs(t, e.s, e.id, e.sec, with(keySubject(e.key), "scope", "users:read", "requested_token_type", oauth.TokenTypeAccessToken), asJSON)
			tok := wantIssued(t, code, m, "users:read")
			if code, me, _ := apiCall(t, "GET", e.s.URL+"/user", "Bearer "+tok, ""); code != 200 || me["username"] != "erin" {
				t.Fatalf("/user with the exchanged token: %d %v", code, me)
			}
			if code, body, _ := apiCall(t, "GET", e.s.URL+"/user/keys", "Bearer "+tok, ""); code != 403 {
				t.Fatalf("/user/keys needs keys:read, which the narrower token lacks: %d %v", code, body)
			}
			in := introspectWith(t, e.s, e.id, e.sec, tok)
			if in["active"] != true || in["scope"] != "users:read" || in["client_id"] != e.id || in["key_id"] == nil {
				t.Fatalf("introspection of the exchanged token: %v", in)
			}
		})
	}
	// No scope named: the key's scopes, as /tokens/generate gives.
	code, m := e.exchange(t, keySubject(e.key))
	all := wantIssued(t, code, m, "")
	if got := scopeSet(fmt.Sprint(m["scope"])); strings.Join(got, " ") != "keys:read users:read" {
		t.Errorf("scope without a request = %v, want the key's", m["scope"])
	}
	if code, _, _ := apiCall(t, "GET", e.s.URL+"/user/keys", "Bearer "+all, ""); code != 200 {
		t.Fatalf("/user/keys with the key's full scopes: %d", code)
	}

	// Revoking the key ends every token exchanged from it, at once.
	if code, _, _ := apiCall(t, "DELETE", e.s.URL+"/user/keys/svc", e.pw, ""); code != 204 {
		t.Fatalf("revoke key: %d", code)
	}
	if code, _, _ := apiCall(t, "GET", e.s.URL+"/user", "Bearer "+all, ""); code != 401 {
		t.Fatalf("exchanged token after its key was revoked: %d, want 401", code)
	}
	if in := introspectWith(t, e.s, e.id, e.sec, all); in["active"] != false {
		t.Fatalf("introspection after the key was revoked: %v", in)
	}
	// And the revoked key cannot be exchanged again.
	if code, m := e.exchange(t, keySubject(e.key)); code != 400 || m["error"] != "invalid_request" {
		t.Fatalf("revoked key: %d %v", code, m)
	}

	// Counted under token_exchange, /tokens/generate still under api_key_exchange.
	_, body := get(t, http.DefaultClient, e.s.URL+"/metrics")
	if !strings.Contains(body, `latchkey_tokens_issued_total{grant="token_exchange"} 3`) {
		t.Errorf("metrics do not count 3 token_exchange tokens:\n%s", grepLines(body, "tokens_issued"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTokenExchangeAccessToken: access tokens — the client's own
// client_credentials token, a person's token from the code flow and a key's
// token from /tokens/generate — are exchanged for narrower ones with one
// audience; introspection shows the aud, the scope and an exp no later
// than the subject's.
func TestTokenExchangeAccessToken(t *testing.T) {
	t.Parallel()
	e := newExchangeEnv(t, nil)
	check := func(t *testing.T, subject, scope string) {
		t.Helper()
		code, m := e.exchange(t, with(tokenSubject(subject), "scope", scope, "audience", exchangeAudience))
		tok := wantIssued(t, code, m, scope)
		sub := introspectWith(t, e.s, e.id, e.sec, subject)
		in := introspectWith(t, e.s, e.id, e.sec, tok)
		aud, _ := in["aud"].([]any)
		if in["active"] != true || in["scope"] != scope || len(aud) != 1 || aud[0] != exchangeAudience {
			t.Fatalf("introspection of the exchanged token: %v", in)
		}
		if subExp, exp := sub["exp"].(float64), in["exp"].(float64); exp > subExp {
			t.Errorf("exchanged token expires at %v, after its subject (%v)", exp, subExp)
		}
		if in["sub"] != sub["sub"] {
			t.Errorf("exchanged token's sub %v, subject's %v", in["sub"], sub["sub"])
		}
	}

	t.Run("client credentials token", func(t *testing.T) {
		cc := clientToken(t, e.s, e.id, e.sec, "users:read keys:verify")
		check(t, cc, "keys:verify")
		// Narrower again is fine; wider than the subject is not.
		if code, m := e.exchange(t, with(tokenSubject(cc), "scope", "keys:read")); code != 400 || m["error"] != "invalid_scope" {
			t.Fatalf("wider than the subject token: %d %v", code, m)
		}
	})

	t.Run("person's token", func(t *testing.T) {
		e2 := newE2E(t)
		id, sec := e2.s.CreateClient(t, oauth.ClientSpec{Name: "Person app", RedirectURIs: []string{e2eRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token", oauth.GrantTypeTokenExchange},
			Scopes:     []string{"openid", "users:read", "keys:read"}, Audience: []string{exchangeAudience}})
		conf := e2e2Conf(e2, id, sec, "openid", "users:read", "keys:read")
		tok := e2.tokens(t, conf)
		code, m := exchangeAs(t, e2.s, id, sec, with(tokenSubject(tok.AccessToken), "scope", "users:read", "audience", exchangeAudience), true)
		nt := wantIssued(t, code, m, "users:read")
		in := introspectWith(t, e2.s, id, sec, nt)
		sub := introspectWith(t, e2.s, id, sec, tok.AccessToken)
		if in["active"] != true || in["sub"] != e2.user.ID || in["scope"] != "users:read" || in["exp"].(float64) > sub["exp"].(float64) {
			t.Fatalf("exchanged person's token introspects as %v (subject %v)", in, sub)
		}
		// Its audience is another resource (RFC 8707): not a credential
		// for Latchkey's own API. One exchanged for the own API (the
		// issuer) is.
		if code, me, _ := apiCall(t, "GET", e2.s.URL+"/v1/users/me", "Bearer "+nt, ""); code != 401 {
			t.Fatalf("/v1/users/me with a token for %s: %d %v, want 401", exchangeAudience, code, me)
		}
		code, m = exchangeAs(t, e2.s, id, sec, with(tokenSubject(tok.AccessToken), "scope", "users:read", "audience", e2.s.URL), true)
		own := wantIssued(t, code, m, "users:read")
		if code, me, _ := apiCall(t, "GET", e2.s.URL+"/v1/users/me", "Bearer "+own, ""); code != 200 || me["id"] != e2.user.ID {
			t.Fatalf("/v1/users/me with the person's token exchanged for the own API: %d %v", code, me)
		}
		// Revoking the subject's grant ends the exchanged token with it.
		// (RFC 7009 §2.1: revoking an access token may end its grant's
		// other tokens; Latchkey's does.)
		resp, b := postValues(t, e2.s.URL+"/oauth/revoke", url.Values{"token": {tok.AccessToken}}, basicAuth(id, sec))
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %s", resp.StatusCode, b)
		}
		if in := introspectWith(t, e2.s, id, sec, nt); in["active"] != false {
			t.Fatalf("exchanged token after its grant was revoked: %v", in)
		}
	})

	t.Run("JWT access tokens", func(t *testing.T) {
		// A client registered for RFC 9068 JWT access tokens gets one for
		// a key, and exchanges that JWT for a narrower JWT.
		jid, jsec := e.s.CreateClient(t, oauth.ClientSpec{Name: "JWT exchanger", GrantTypes: []string{oauth.GrantTypeTokenExchange},
			Scopes: []string{"users:read"}, JWTAccessTokens: true, Audience: []string{exchangeAudience}})
		code, m := exchangeAs(t, e.s, jid, jsec, keySubject(e.key), false)
		first := wantIssued(t, code, m, "")
		if strings.Count(first, ".") != 2 {
			t.Fatalf("not a JWT: %s", first)
		}
		code, m = exchangeAs(t, e.s, jid, jsec, with(tokenSubject(first), "scope", "users:read", "audience", exchangeAudience), false)
		second := wantIssued(t, code, m, "users:read")
		in := introspectWith(t, e.s, jid, jsec, second)
		if in["active"] != true || in["key_id"] == nil || in["scope"] != "users:read" {
			t.Fatalf("exchanged JWT introspects as %v", in)
		}
		// Another client may not exchange this client's JWT.
		if code, m := e.exchange(t, tokenSubject(first)); code != 400 || m["error"] != "invalid_request" {
			t.Fatalf("another client's JWT: %d %v", code, m)
		}
	})

	t.Run("key's token from /tokens/generate", func(t *testing.T) {
		short := e.createKey(t, "short", `"scopes":["users:read","keys:read"],"expires_in":900`)
		code, gen, _ := apiCall(t, "POST", e.s.URL+"/tokens/generate", "Bearer "+short, "")
		if code != 200 {
			t.Fatalf("generate: %d %v", code, gen)
		}
		kt := gen["token"].(string)
		code, m := e.exchange(t, with(tokenSubject(kt), "scope", "users:read", "resource", exchangeAudience))
		tok := wantIssued(t, code, m, "users:read")
		if exp := m["expires_in"].(float64); exp > 900 {
			t.Errorf("expires_in %v beyond the key's 900 s", exp)
		}
		in := introspectWith(t, e.s, e.id, e.sec, tok)
		if in["active"] != true || in["key_id"] == nil {
			t.Fatalf("exchanged key token: %v", in)
		}
		if code, _, _ := apiCall(t, "DELETE", e.s.URL+"/user/keys/short", e.pw, ""); code != 204 {
			t.Fatal("revoke key")
		}
		if in := introspectWith(t, e.s, e.id, e.sec, tok); in["active"] != false {
			t.Fatalf("token exchanged from a revoked key's token: %v", in)
		}
	})
}

// e2e2Conf is e's client configuration for another client.
func e2e2Conf(e *e2eEnv, id, sec string, scopes ...string) *oauth2.Config {
	c := *e.conf
	c.ClientID, c.ClientSecret, c.Scopes = id, sec, scopes
	return &c
}

// TestTokenExchangeBadInput: every refusal is the RFC's error code in the
// RFC 6749 §5.2 body, never a 5xx.
func TestTokenExchangeBadInput(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testTokenExchangeBadInput(t, newExchangeEnv(t, func(c *config.Config) { b.Configure(t, c); c.Server.MaxBodyBytes = 8 << 10 }))
		})
	}
}

func testTokenExchangeBadInput(t *testing.T, e *exchangeEnv) {
	expiring := e.createKey(t, "expiring", `"expires_in":1`)
	// Another client, registered for token exchange, and its own token.
	otherID, otherSec := e.s.CreateClient(t, oauth.ClientSpec{Name: "Other", GrantTypes: []string{oauth.GrantTypeTokenExchange, "client_credentials"}, Scopes: []string{"users:read"}})
	othersToken := clientToken(t, e.s, otherID, otherSec, "users:read")
	// A client not registered for the grant.
	plainID, plainSec := e.s.CreateClient(t, oauth.ClientSpec{Name: "Plain", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	time.Sleep(1100 * time.Millisecond) // the expiring key has expired

	for _, tc := range []struct {
		name       string
		id, sec    string
		v          url.Values
		status     int
		code       string
		descriptor string
	}{
		{"wider scope", "", "", with(keySubject(e.key), "scope", "users:read keys:write"), 400, "invalid_scope", ""},
		{"unknown scope", "", "", with(keySubject(e.key), "scope", "nonsense"), 400, "invalid_scope", ""},
		{"missing subject_token", "", "", url.Values{"subject_token_type": {oauth.TokenTypeAPIKey}}, 400, "invalid_request", "subject_token"},
		{"missing subject_token_type", "", "", url.Values{"subject_token": {e.key}}, 400, "invalid_request", "subject_token_type"},
		{"unknown subject_token_type", "", "", url.Values{"subject_token": {e.key}, "subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, 400, "invalid_request", ""},
		{"API key sent as access token", "", "", tokenSubject(e.key), 400, "invalid_request", ""},
		{"requested id_token", "", "", with(keySubject(e.key), "requested_token_type", "urn:ietf:params:oauth:token-type:id_token"), 400, "invalid_request", "requested_token_type"},
		{"requested refresh token", "", "", with(keySubject(e.key), "requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"), 400, "invalid_request", ""},
		{"actor token", "", "", with(keySubject(e.key), "actor_token", e.key, "actor_token_type", oauth.TokenTypeAPIKey), 400, "invalid_request", "actor_token"},
		{"garbage key", "", "", keySubject("lk_live_nope"), 400, "invalid_request", ""},
		{"unknown well-formed key", "", "", keySubject(e.key[:len(e.key)-8] + "AAAAAAAA"), 400, "invalid_request", ""},
		{"expired key", "", "", keySubject(expiring), 400, "invalid_request", ""},
		{"garbage access token", "", "", tokenSubject("ory_at_nope.nope"), 400, "invalid_request", ""},
		{"another client's access token", "", "", tokenSubject(othersToken), 400, "invalid_request", "another client"},
		{"unknown audience", "", "", with(keySubject(e.key), "audience", "https://evil.example.com"), 400, "invalid_target", ""},
		{"relative resource", "", "", with(keySubject(e.key), "resource", "reports"), 400, "invalid_target", ""},
		{"two audiences", "", "", with(keySubject(e.key), "audience", exchangeAudience, "resource", e.s.URL), 400, "invalid_target", ""},
		{"client not registered for the grant", plainID, plainSec, keySubject(e.key), 400, "unauthorized_client", ""},
		{"wrong client secret", e.id, "wrong", keySubject(e.key), 401, "invalid_client", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, sec := e.id, e.sec
			if tc.id != "" {
				id, sec = tc.id, tc.sec
			}
			for _, asJSON := range []bool{false, true} {
				code, m := exchangeAs(t, e.s, id, sec, tc.v, asJSON)
				if code != tc.status || m["error"] != tc.code {
					t.Fatalf("json=%v: %d %v, want %d %s", asJSON, code, m, tc.status, tc.code)
				}
				if d, _ := m["error_description"].(string); !strings.Contains(d, tc.descriptor) {
					t.Errorf("error_description %q does not mention %q", d, tc.descriptor)
				}
			}
		})
	}

	// The issuer is an audience every client may name.
	code, m := e.exchange(t, with(keySubject(e.key), "audience", e.s.URL))
	wantIssued(t, code, m, "")
	// The other client may exchange its own token.
	code, m = exchangeAs(t, e.s, otherID, otherSec, tokenSubject(othersToken), false)
	wantIssued(t, code, m, "users:read")

	raw := func(t *testing.T, ct string, body []byte) (int, map[string]any) {
		t.Helper()
		resp, b := call(t, http.MethodPost, e.s.URL+"/oauth/token", ct, body, basicAuth(e.id, e.sec))
		return resp.StatusCode, decodeObject(t, b)
	}
	t.Run("malformed JSON", func(t *testing.T) {
		if code, m := raw(t, "application/json", []byte(`{"grant_type":"`+oauth.GrantTypeTokenExchange+`","subject_token":`)); code != 400 || m["error"] != "invalid_request" {
			t.Fatalf("%d %v", code, m)
		}
		if code, m := raw(t, "application/json", []byte(`{"grant_type":"`+oauth.GrantTypeTokenExchange+`","subject_token":["a","b"]}`)); code != 400 || m["error"] != "invalid_request" {
			t.Fatalf("%d %v", code, m)
		}
	})
	t.Run("huge body", func(t *testing.T) {
		body := keySubject(e.key)
		body.Set("grant_type", oauth.GrantTypeTokenExchange)
		body.Set("scope", strings.Repeat("users:read ", 2000))
		if code, m := raw(t, "application/x-www-form-urlencoded", []byte(body.Encode())); code != 413 || m["error"] != "invalid_request" {
			t.Fatalf("%d %v", code, m)
		}
	})
	t.Run("repeated parameter", func(t *testing.T) {
		body := "grant_type=" + url.QueryEscape(oauth.GrantTypeTokenExchange) + "&subject_token_type=" + url.QueryEscape(oauth.TokenTypeAPIKey) +
			"&subject_token=" + e.key + "&subject_token=" + e.key
		if code, m := raw(t, "application/x-www-form-urlencoded", []byte(body)); code != 400 || m["error"] != "invalid_request" {
			t.Fatalf("%d %v", code, m)
		}
	})
	t.Run("public client cannot register the grant", func(t *testing.T) {
		_, _, err := e.s.App.CreateClient(t.Context(), oauth.ClientSpec{Name: "Pub", Public: true, RedirectURIs: []string{e2eRedirect},
			GrantTypes: []string{"authorization_code", oauth.GrantTypeTokenExchange}})
		if err == nil {
			t.Fatal("a public client was registered for token exchange")
		}
	})
}

// TestTokenExchangeConcurrent: concurrent exchanges of one key each get
// their own working token.
func TestTokenExchangeConcurrent(t *testing.T) {
	t.Parallel()
	e := newExchangeEnv(t, nil)
	const n = 8
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := with(keySubject(e.key), "grant_type", oauth.GrantTypeTokenExchange, "scope", "users:read")
			req, _ := http.NewRequest(http.MethodPost, e.s.URL+"/oauth/token", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(e.id, e.sec)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			if resp.StatusCode != 200 || json.NewDecoder(bytes.NewReader(b)).Decode(&m) != nil {
				errs[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
				return
			}
			toks[i], _ = m["access_token"].(string)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != "" {
			t.Fatalf("exchange %d: %s", i, errs[i])
		}
		if toks[i] == "" || seen[toks[i]] {
			t.Fatalf("exchange %d: empty or repeated token", i)
		}
		seen[toks[i]] = true
		if code, _, _ := apiCall(t, "GET", e.s.URL+"/user", "Bearer "+toks[i], ""); code != 200 {
			t.Fatalf("token %d: /user %d", i, code)
		}
	}
}

// TestTokenExchangeClientRateLimit: the client's token-endpoint limit
// (rate_limits.token_per_minute) applies to exchanges, with 429 and
// Retry-After, before the subject token is looked at.
func TestTokenExchangeClientRateLimit(t *testing.T) {
	t.Parallel()
	e := newExchangeEnv(t, func(c *config.Config) { c.RateLimits.TokenPerMinute = 3 })
	for i := range 3 {
		if code, m := e.exchange(t, keySubject(e.key)); code != 200 {
			t.Fatalf("exchange %d: %d %v", i, code, m)
		}
	}
	code, m := e.exchange(t, keySubject("lk_live_nope"))
	if code != http.StatusTooManyRequests || m["error"] != "rate_limit_exceeded" {
		t.Fatalf("over the client's limit: %d %v", code, m)
	}
}
