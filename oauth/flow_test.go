package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Test helpers that drive the protocol in process: the authorization
// endpoint as the web pages call it (ParseAuthorize → WriteGrant), and the
// token, introspection and userinfo handlers with real HTTP requests.

const flowRedirect = "https://app.example/cb"

// testClient is a registered client and its secret ("" for public ones).
type testClient struct {
	ID, Secret string
}

// registerClient stores a client registered from spec (redirect URI
// flowRedirect and the code and refresh grants unless spec names others).
func registerClient(t testing.TB, p *Provider, db *storage.DB, spec ClientSpec) testClient {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "App"
	}
	if len(spec.RedirectURIs) == 0 {
		spec.RedirectURIs = []string{flowRedirect}
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = []string{"openid", "profile", "email", "offline_access", "users:read"}
	}
	rec, plain, err := p.NewClientRecord(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return testClient{ID: rec.ID, Secret: plain}
}

// pkcePair returns a code verifier and its S256 challenge (RFC 7636 §4.2).
func pkcePair() (verifier, challenge string) {
	verifier = strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// grantCode runs an approved authorization for subject asking for scope,
// with a PKCE S256 challenge, and returns the code and its verifier.
func grantCode(t testing.TB, p *Provider, c testClient, subject, scope string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkcePair()
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {scope},
		"state": {"state-123456789"}, "nonce": {"nonce-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
	a, err := p.ParseAuthorize(r)
	if err != nil {
		t.Fatalf("ParseAuthorize: %v", err)
	}
	w := httptest.NewRecorder()
	p.WriteGrant(w, r, a, Grant{Subject: subject, Username: subject, AuthTime: time.Now(), Scopes: a.Scopes()})
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("WriteGrant: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

// post sends a form to handler, authenticated as c with HTTP Basic when c
// has an id, and returns the status and the decoded JSON body.
func post(t testing.TB, handler http.HandlerFunc, path string, c testClient, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.ID != "" {
		r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	w := httptest.NewRecorder()
	handler(w, r)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: status %d, body not JSON: %q", path, w.Code, w.Body.String())
	}
	return w.Code, body, w.Header()
}

// exchange redeems a code at the token endpoint.
func exchange(t testing.TB, p *Provider, c testClient, code, verifier string) (int, map[string]any) {
	t.Helper()
	status, body, _ := post(t, p.Token, "/oauth/token", c, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {flowRedirect}, "code_verifier": {verifier}})
	return status, body
}

// refreshWith refreshes with scope ("" = no scope parameter).
func refreshWith(t *testing.T, p *Provider, c testClient, refreshToken, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body, _ := post(t, p.Token, "/oauth/token", c, form)
	return status, body
}

// tokens runs an authorization for subject with scope and redeems it.
func tokens(t *testing.T, p *Provider, c testClient, subject, scope string) map[string]any {
	t.Helper()
	code, verifier := grantCode(t, p, c, subject, scope)
	status, body := exchange(t, p, c, code, verifier)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, body)
	}
	return body
}

// introspect asks /oauth/introspect about token as c.
func introspect(t *testing.T, p *Provider, c testClient, token string) (int, map[string]any) {
	t.Helper()
	status, body, _ := post(t, p.Introspect, "/oauth/introspect", c, url.Values{"token": {token}})
	return status, body
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
