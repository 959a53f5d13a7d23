package web

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// authorizeFixture is the authorization endpoint and the /apps pages over
// the real OAuth provider and a SQLite store, mounted without CSRF.
type authorizeFixture struct {
	*pagesFixture
	p  *oauth.Provider
	db *storage.DB
}

const authzRedirect = "https://app.example/cb"

func newAuthorizeFixture(t *testing.T) *authorizeFixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "w.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := oauth.New(oauth.Config{
		Issuer: "https://issuer.example", AccessTokenLifespan: time.Hour, RefreshTokenLifespan: time.Hour,
		AuthorizeCodeLifespan: 10 * time.Minute, IDTokenLifespan: time.Hour,
		HMACKey: bytes.Repeat([]byte{7}, 32), SigningKey: key, SigningKeyID: "k1", Hasher: hasher,
	}, db, db)
	if err != nil {
		t.Fatal(err)
	}
	k := func(b byte) []byte { return bytes.Repeat([]byte{'a' + b}, 32) }
	h, err := New(Config{
		CookieHashKey: k(0), CookieBlockKey: k(1), CSRFKey: k(2), Clients: p, Scopes: []string{"openid", "profile"},
		ScopeDescription: func(s string) (string, bool) { return "words for " + s, true },
		Logger:           slog.New(slog.DiscardHandler),
	}, p, db)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/login", h.LoginForm)
	e.POST("/login", h.Login)
	e.POST("/logout", h.Logout)
	e.GET("/oauth/authorize", h.Authorize)
	e.POST("/oauth/consent", h.Consent)
	user := e.Group("/", h.RequireUser())
	user.GET("/apps", h.Apps)
	user.POST("/apps", h.CreateApp)
	user.GET("/apps/:id", h.App)
	user.POST("/apps/:id", h.UpdateApp)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &authorizeFixture{pagesFixture: &pagesFixture{h: h, srv: srv}, p: p, db: db}
}

// client registers a client for authzRedirect and returns its id.
func (f *authorizeFixture) client(t *testing.T, spec oauth.ClientSpec) string {
	t.Helper()
	spec.RedirectURIs = []string{authzRedirect}
	spec.Scopes = []string{"openid", "profile"}
	rec, _, err := f.p.NewClientRecord(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreateClient(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// signIn stores a user and signs a browser in through POST /login.
func (f *authorizeFixture) signIn(t *testing.T, id, username string) *http.Client {
	t.Helper()
	const password = "correct horse battery"
	hash, err := secret.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreateUser(t.Context(), &storage.User{ID: id, Username: username, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	c := f.anon(t)
	resp, body := f.do(t, c, http.MethodPost, "/login", url.Values{"username": {username}, "password": {password}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	return c
}

// authorizePath is an authorization request for clientID asking for
// openid; extra adds or overrides parameters.
func authorizePath(clientID string, extra ...string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {authzRedirect},
		"scope": {"openid"}, "state": {"state-123456789"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return "/oauth/authorize?" + q.Encode()
}

// redirectQuery returns the query of a redirect back to authzRedirect, or
// fails the test.
func redirectQuery(t *testing.T, resp *http.Response, body string) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, authzRedirect) {
		t.Fatalf("status %d Location %q, want a redirect to the client\n%s", resp.StatusCode, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestRememberedConsentNeverApprovesPublicClient: a confidential client
// the person approved before gets its code without the page; a public
// client — whose client_id anyone can use — gets the consent page every
// time, and prompt=none answers consent_required.
func TestRememberedConsentNeverApprovesPublicClient(t *testing.T) {
	f := newAuthorizeFixture(t)
	conf := f.client(t, oauth.ClientSpec{Name: "Server app"})
	pub := f.client(t, oauth.ClientSpec{Name: "Browser app", Public: true})
	c := f.signIn(t, "u-ann", "ann")
	for _, id := range []string{conf, pub} {
		if err := f.db.SaveConsent(t.Context(), &storage.Consent{UserID: "u-ann", ClientID: id, Scopes: []string{"openid", "profile"}}); err != nil {
			t.Fatal(err)
		}
	}

	resp, body := f.do(t, c, http.MethodGet, authorizePath(conf), nil)
	if q := redirectQuery(t, resp, body); q.Get("code") == "" {
		t.Fatalf("confidential client with remembered consent: %v, want a code without the consent page", q)
	}

	resp, body = f.do(t, c, http.MethodGet, authorizePath(pub), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="challenge"`) || !strings.Contains(body, "Browser app") {
		t.Fatalf("public client with remembered consent: status %d Location %q, want the consent page\n%s",
			resp.StatusCode, resp.Header.Get("Location"), body)
	}

	resp, body = f.do(t, c, http.MethodGet, authorizePath(pub, "prompt", "none"), nil)
	if q := redirectQuery(t, resp, body); q.Get("error") != "consent_required" || q.Get("code") != "" {
		t.Fatalf("public client, prompt=none: %v, want error=consent_required", q)
	}
}

// TestRequirePKCERefusedBeforeLogin: a client that requires PKCE gets
// invalid_request at its redirect URI for a request without
// code_challenge, before anyone is sent to sign in; with a challenge the
// request proceeds to the login page as usual.
func TestRequirePKCERefusedBeforeLogin(t *testing.T) {
	f := newAuthorizeFixture(t)
	strict := f.client(t, oauth.ClientSpec{Name: "Strict", RequirePKCE: true})
	lax := f.client(t, oauth.ClientSpec{Name: "Lax"})
	c := f.anon(t)

	resp, body := f.do(t, c, http.MethodGet, authorizePath(strict, "code_challenge", "", "code_challenge_method", ""), nil)
	q := redirectQuery(t, resp, body)
	if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") || q.Get("state") != "state-123456789" {
		t.Fatalf("no code_challenge: %v, want invalid_request naming PKCE, with the state", q)
	}

	resp, _ = f.do(t, c, http.MethodGet, authorizePath(strict), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("with S256 challenge: %d %q, want the login page", resp.StatusCode, loc)
	}
	resp, _ = f.do(t, c, http.MethodGet, authorizePath(lax, "code_challenge", "", "code_challenge_method", ""), nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("client without require_pkce, no challenge: %d %q, want the login page", resp.StatusCode, loc)
	}
}
