package web

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
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

const logoutBye = "https://app.example/bye"

// logoutFixture is the pages over the real provider and SQLite, mounted
// as the server mounts them (CSRF on the pages, the client's POST to
// /oauth/logout outside it), with a back-channel receiver.
type logoutFixture struct {
	*authorizeFixture
	tokens chan string
	bcURL  string
}

func newLogoutFixture(t *testing.T) *logoutFixture {
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
		Logger: slog.New(slog.DiscardHandler),
	}, db, db)
	if err != nil {
		t.Fatal(err)
	}
	k := func(b byte) []byte { return bytes.Repeat([]byte{'a' + b}, 32) }
	h, err := New(Config{
		CookieHashKey: k(0), CookieBlockKey: k(1), CSRFKey: k(2), Clients: p, Scopes: []string{"openid", "profile"},
		Logout: p, Logger: slog.New(slog.DiscardHandler),
	}, p, db)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	pages := e.Group("/", h.CSRF())
	pages.GET("/login", h.LoginForm)
	e.POST("/login", h.Login) // the fixture signs in without a form token
	pages.POST("/logout", h.Logout)
	pages.GET("/oauth/authorize", h.Authorize)
	pages.GET("/oauth/logout", h.EndSession)
	e.POST("/oauth/logout", h.EndSessionPost)
	pages.POST("/oauth/logout/confirm", h.ConfirmLogout)
	user := pages.Group("/", h.RequireUser())
	user.GET("/account", h.Account)
	user.GET("/authorized", h.Authorized)
	user.POST("/authorized/:client_id/revoke", h.RevokeAuthorized)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	tokens := make(chan string, 8)
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens <- r.PostFormValue("logout_token")
	}))
	t.Cleanup(bc.Close)
	return &logoutFixture{authorizeFixture: &authorizeFixture{pagesFixture: &pagesFixture{h: h, srv: srv}, p: p, db: db},
		tokens: tokens, bcURL: bc.URL}
}

// app registers a confidential client with logoutBye and the receiver,
// remembers alice's consent to it, and returns its id and secret.
func (f *logoutFixture) app(t *testing.T, userID string) (id, secretValue string) {
	t.Helper()
	rec, plain, err := f.p.NewClientRecord(oauth.ClientSpec{Name: "Shop", RedirectURIs: []string{authzRedirect},
		Scopes: []string{"openid", "profile"}, PostLogoutRedirectURIs: []string{logoutBye}, BackchannelLogoutURI: f.bcURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.CreateClient(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SaveConsent(t.Context(), &storage.Consent{UserID: userID, ClientID: rec.ID, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	return rec.ID, plain
}

// idToken runs the code flow in browser c for the client and returns
// the ID token.
func (f *logoutFixture) idToken(t *testing.T, c *http.Client, clientID, clientSecret string) string {
	t.Helper()
	resp, body := f.do(t, c, http.MethodGet, authorizePath(clientID), nil)
	q := redirectQuery(t, resp, body)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {authzRedirect},
		"code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	w := httptest.NewRecorder()
	f.p.Token(w, r)
	var tok map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &tok)
	id, _ := tok["id_token"].(string)
	if id == "" {
		t.Fatalf("token: %d %s", w.Code, w.Body.String())
	}
	return id
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *logoutFixture) signedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp, _ := f.do(t, c, http.MethodGet, "/account", nil)
	return resp.StatusCode == http.StatusOK
}

func (f *logoutFixture) logoutToken(t *testing.T) map[string]any {
	t.Helper()
	select {
	case tok := <-f.tokens:
		return jwtClaims(t, tok)
	case <-time.After(5 * time.Second):
		t.Fatal("no logout token arrived")
		return nil
	}
}

// TestEndSessionWithMatchingHint: a valid id_token_hint of the signed-in
// person signs out at once, returns to the registered URI with state, and
// the client gets a logout token with the session's sid.
func TestEndSessionWithMatchingHint(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	id, sec := f.app(t, "u-alice")
	hint := f.idToken(t, c, id, sec)
	sid, _ := jwtClaims(t, hint)["sid"].(string)
	if sid == "" {
		t.Fatal("id_token has no sid")
	}
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {logoutBye}, "state": {"st 1"}}
	resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutBye+"?state=st+1" {
		t.Fatalf("logout: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if f.signedIn(t, c) {
		t.Error("still signed in after /oauth/logout")
	}
	if lt := f.logoutToken(t); lt["sid"] != sid || lt["sub"] != "u-alice" || lt["aud"] != id {
		t.Errorf("logout token claims %v, want sid %s", lt, sid)
	}
}

// TestEndSessionConfirmation: without a hint (or with another person's)
// the person is asked; the form needs the CSRF token; confirming signs out
// and returns to the client.
func TestEndSessionConfirmation(t *testing.T) {
	f := newLogoutFixture(t)
	bob := f.signIn(t, "u-bob", "bob")
	id, sec := f.app(t, "u-bob")
	bobsHint := f.idToken(t, bob, id, sec)
	c := f.signIn(t, "u-alice", "alice")

	for name, q := range map[string]url.Values{
		"no hint":         {"client_id": {id}, "post_logout_redirect_uri": {logoutBye}, "state": {"s"}},
		"another's hint":  {"id_token_hint": {bobsHint}, "post_logout_redirect_uri": {logoutBye}, "state": {"s"}},
		"unjudgable hint": {"id_token_hint": {"garbage"}, "client_id": {id}, "post_logout_redirect_uri": {logoutBye}, "state": {"s"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+q.Encode(), nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out of Latchkey?") || !strings.Contains(body, "Shop") ||
				!strings.Contains(body, `action="/oauth/logout/confirm"`) || !strings.Contains(body, `name="csrf_token"`) {
				t.Fatalf("want the confirmation page, got %d\n%s", resp.StatusCode, body)
			}
			if !f.signedIn(t, c) {
				t.Fatal("signed out before confirming")
			}
		})
	}
	resp, _ := f.do(t, c, http.MethodGet, "/oauth/logout?"+url.Values{"client_id": {id}, "post_logout_redirect_uri": {logoutBye}, "state": {"s"}}.Encode(), nil)
	csrf := resp.Header.Get("X-CSRF-Token")
	form := url.Values{"client_id": {id}, "post_logout_redirect_uri": {logoutBye}, "state": {"s"}}
	resp, _ = f.do(t, c, http.MethodPost, "/oauth/logout/confirm", form)
	if resp.StatusCode != http.StatusForbidden || !f.signedIn(t, c) {
		t.Fatalf("confirm without CSRF token: %d, want 403 and still signed in", resp.StatusCode)
	}
	form.Set("csrf_token", csrf)
	resp, body := f.do(t, c, http.MethodPost, "/oauth/logout/confirm", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutBye+"?state=s" {
		t.Fatalf("confirm: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if f.signedIn(t, c) {
		t.Error("still signed in after confirming")
	}
	if !f.signedIn(t, bob) {
		t.Error("alice's sign-out ended bob's session")
	}
}

// TestEndSessionRefusals: a refused request is an HTML error page, never
// a redirect; the client's POST is turned into the GET.
func TestEndSessionRefusals(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	id, _ := f.app(t, "u-alice")
	for name, q := range map[string]url.Values{
		"unregistered URI": {"client_id": {id}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"URI, no client":   {"post_logout_redirect_uri": {logoutBye}},
		"unknown client":   {"client_id": {"nope"}},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+q.Encode(), nil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "invalid_request") {
				t.Fatalf("%d %q %q\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"), body)
			}
			if !f.signedIn(t, c) {
				t.Error("a refused logout signed the person out")
			}
		})
	}
	resp, _ := f.do(t, c, http.MethodPost, "/oauth/logout", url.Values{"client_id": {id}, "state": {"x"}, "junk": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/oauth/logout?client_id="+id+"&state=x" {
		t.Fatalf("client POST: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestEndSessionSignedOut: with nobody signed in the browser goes back to
// the client, or sees "You are signed out".
func TestEndSessionSignedOut(t *testing.T) {
	f := newLogoutFixture(t)
	if err := f.db.CreateUser(t.Context(), &storage.User{ID: "u-alice", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err) // the app's consent needs its person
	}
	id, _ := f.app(t, "u-alice")
	c := f.anon(t)
	resp, _ := f.do(t, c, http.MethodGet, "/oauth/logout?"+url.Values{"client_id": {id}, "post_logout_redirect_uri": {logoutBye}}.Encode(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != logoutBye {
		t.Fatalf("%d %q, want %s with no state", resp.StatusCode, resp.Header.Get("Location"), logoutBye)
	}
	resp, body := f.do(t, c, http.MethodGet, "/oauth/logout", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
}

// TestWebLogoutAndRevokeSendLogoutTokens: /logout and "Revoke access"
// reach the back channel too.
func TestWebLogoutAndRevokeSendLogoutTokens(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	id, sec := f.app(t, "u-alice")
	sid := jwtClaims(t, f.idToken(t, c, id, sec))["sid"]

	resp, _ := f.do(t, c, http.MethodGet, "/authorized", nil)
	resp, _ = f.do(t, c, http.MethodPost, "/authorized/"+id+"/revoke", url.Values{"csrf_token": {resp.Header.Get("X-CSRF-Token")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if lt := f.logoutToken(t); lt["sid"] != sid || lt["aud"] != id {
		t.Errorf("revoke logout token %v", lt)
	}

	if err := f.db.SaveConsent(t.Context(), &storage.Consent{UserID: "u-alice", ClientID: id, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	f.idToken(t, c, id, sec)
	resp, _ = f.do(t, c, http.MethodGet, "/account", nil)
	resp, _ = f.do(t, c, http.MethodPost, "/logout", url.Values{"csrf_token": {resp.Header.Get("X-CSRF-Token")}})
	if resp.StatusCode != http.StatusSeeOther || f.signedIn(t, c) {
		t.Fatalf("/logout: %d", resp.StatusCode)
	}
	if lt := f.logoutToken(t); lt["sid"] != sid || lt["sub"] != "u-alice" {
		t.Errorf("/logout logout token %v", lt)
	}
}

// TestSignedOutPageDropsTheCookie: the "You are signed out" page, rendered
// after the sign-out in the same response, does not save the old session
// back (a flash still waiting from the sign-in used to make render save it).
func TestSignedOutPageDropsTheCookie(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice") // leaves the "Signed in as" flash waiting
	id, sec := f.app(t, "u-alice")
	hint := f.idToken(t, c, id, sec)
	resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") || strings.Contains(body, "Signed in as") {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	u, _ := url.Parse(f.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == f.h.SessionCookie() {
			t.Fatalf("session cookie still set after sign-out: %q", ck.Value)
		}
	}
}

// TestEndSessionWithoutCookie: a client calling with the hint from its
// server (no browser cookie, as oauth2-proxy's backend logout does) ends
// the person's sessions while the hint's session is live; replaying the
// hint after that ends nothing new.
func TestEndSessionWithoutCookie(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	id, sec := f.app(t, "u-alice")
	hint := f.idToken(t, c, id, sec)
	server := f.anon(t)
	resp, _ := f.do(t, server, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || f.signedIn(t, c) {
		t.Fatalf("server-side logout: %d, signed in still %v; want the session ended", resp.StatusCode, f.signedIn(t, c))
	}
	if lt := f.logoutToken(t); lt["sub"] != "u-alice" {
		t.Errorf("logout token %v", lt)
	}
	// A new sign-in is not ended by the old hint.
	c2 := f.anon(t)
	if resp, _ := f.do(t, c2, http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in again: %d", resp.StatusCode)
	}
	f.do(t, server, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
	if !f.signedIn(t, c2) {
		t.Error("a replayed hint of an ended session ended a later one")
	}
}

// TestEndSessionOldHintAsks: an ID token from an earlier sign-in of the
// same person (expired hints are valid, §2) does not sign the current
// session out without asking — any site could otherwise navigate the
// browser to /oauth/logout with one it holds and end every session.
func TestEndSessionOldHintAsks(t *testing.T) {
	f := newLogoutFixture(t)
	old := f.signIn(t, "u-alice", "alice")
	id, sec := f.app(t, "u-alice")
	hint := f.idToken(t, old, id, sec)
	resp, _ := f.do(t, old, http.MethodGet, "/account", nil)
	if resp, _ := f.do(t, old, http.MethodPost, "/logout", url.Values{"csrf_token": {resp.Header.Get("X-CSRF-Token")}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	f.logoutToken(t)
	c := f.anon(t)
	if resp, _ := f.do(t, c, http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in again: %d", resp.StatusCode)
	}
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {logoutBye}}
	resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+q.Encode(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/oauth/logout/confirm"`) {
		t.Fatalf("old hint: %d %q, want the confirmation page\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if !f.signedIn(t, c) {
		t.Error("an old ID token signed the new session out without asking")
	}
}

// TestEndSessionRevokedAppCannotSignOut: an app the person revoked under
// "Authorized apps" keeps the ID tokens it got, but they no longer sign
// the person out from the app's server (no cookie) — even while the same
// sign-in session still reaches another app, whose hint still does.
func TestEndSessionRevokedAppCannotSignOut(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	revoked, revokedSecret := f.app(t, "u-alice")
	kept, keptSecret := f.app(t, "u-alice")
	revokedHint := f.idToken(t, c, revoked, revokedSecret)
	keptHint := f.idToken(t, c, kept, keptSecret)

	resp, _ := f.do(t, c, http.MethodGet, "/authorized", nil)
	resp, _ = f.do(t, c, http.MethodPost, "/authorized/"+revoked+"/revoke", url.Values{"csrf_token": {resp.Header.Get("X-CSRF-Token")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	f.logoutToken(t)

	server := f.anon(t)
	f.do(t, server, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {revokedHint}}.Encode(), nil)
	if !f.signedIn(t, c) {
		t.Fatal("a revoked app's ID token signed the person out")
	}
	f.do(t, server, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {keptHint}}.Encode(), nil)
	if f.signedIn(t, c) {
		t.Error("the hint of an app the session still reaches did not sign out")
	}
}

// TestEndSessionRevokedAppAsks: in the person's own browser too, the ID
// token of an app they revoked — even one of this very session — gets
// the confirmation, not a silent sign-out.
func TestEndSessionRevokedAppAsks(t *testing.T) {
	f := newLogoutFixture(t)
	c := f.signIn(t, "u-alice", "alice")
	id, sec := f.app(t, "u-alice")
	hint := f.idToken(t, c, id, sec)
	resp, _ := f.do(t, c, http.MethodGet, "/authorized", nil)
	if resp, _ = f.do(t, c, http.MethodPost, "/authorized/"+id+"/revoke", url.Values{"csrf_token": {resp.Header.Get("X-CSRF-Token")}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	f.logoutToken(t)
	resp, body := f.do(t, c, http.MethodGet, "/oauth/logout?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/oauth/logout/confirm"`) || !f.signedIn(t, c) {
		t.Fatalf("revoked app's hint in the browser: %d, signed in %v; want the confirmation", resp.StatusCode, f.signedIn(t, c))
	}
}
