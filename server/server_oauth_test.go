package server_test

// End-to-end tests of the OAuth 2.0 / OpenID Connect surface (SPEC §3.1),
// driven by golang.org/x/oauth2 and a cookie-keeping browser against the
// real server (newTestServer) over SQLite.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

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
	u := s.CreateUser(t, e2eUser, e2ePassword)
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Web App", RedirectURIs: []string{e2eRedirect}})
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
	u := e.s.Authorize(t, e.c, ar.url, e2eUser, e2ePassword, "allow")
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
