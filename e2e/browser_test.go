package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/oauth"
)

// browserTimeout bounds every browser test; together they should take well
// under a minute.
const browserTimeout = 90 * time.Second

// clientApp is a third-party app's redirect endpoint: it records what the
// authorization server sends back.
type clientApp struct {
	*httptest.Server
	got chan url.Values
}

func newClientApp(t *testing.T) *clientApp {
	t.Helper()
	a := &clientApp{got: make(chan url.Values, 4)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		a.got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Photo Printer</title><p>Signed in with Latchkey.</p>"))
	}))
	t.Cleanup(a.Close)
	return a
}

// callback waits for the redirect back to the app.
func (a *clientApp) callback(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-a.got:
		return q
	case <-time.After(10 * time.Second):
		t.Fatal("the app never got the redirect")
		return nil
	}
}

// tokenTest calls GET /tokens/test with a bearer token and returns the status.
func tokenTest(t *testing.T, s *testServer, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/tokens/test", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// wantOAuthError fails unless err is an RFC 6749 error response with code.
func wantOAuthError(t *testing.T, what string, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("%s: got %v, want OAuth error %q", what, err, code)
	}
}

// TestBrowserSignupConsentRevoke: a person signs up, signs out, is sent by
// a third-party app to /oauth/authorize, signs in, allows; the app exchanges
// the code and refreshes; the person revokes the app under /authorized and
// the app's refresh and access tokens stop working.
func TestBrowserSignupConsentRevoke(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	app := newClientApp(t)
	clientID, clientSecret := s.CreateClient(t, oauth.ClientSpec{
		Name: "Photo Printer", RedirectURIs: []string{app.URL + "/cb"}, ClientURI: "https://photos.example/",
		Scopes: []string{"openid", "profile", "email", "offline_access"},
	})
	b := newChrome(t, s.URL, browserTimeout)
	ctx := b.ctx
	const password = "tangerine otter lamp kettle"

	// Sign up: first with mistakes, each explained next to its field.
	b.open("/signup")
	b.shoot("signup")
	b.fill("#username", "Alice", "#email", "alice@", "#password", "password1234")
	if resp := b.click(`form[action="/signup"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("bad sign-up: status %d", resp.Status)
	}
	b.wantText("#username-error", "lowercase")
	b.wantText("#email-error", "name@example.com")
	b.wantText("#password-error", "too common")
	if got := b.value("#username"); got != "Alice" {
		t.Fatalf("username not kept: %q", got)
	}
	b.shoot("signup-errors")

	b.fill("#username", "alice", "#email", "alice@example.com", "#password", password)
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.wantAt("/")
	b.wantText(".flash", "Welcome to Latchkey, alice")
	b.wantText(".session-user", "alice")
	b.shoot("home")

	u, err := s.App.DB().GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	b.click(`a.tile[href="/account"]`)
	b.wantText("main", u.ID, "alice@example.com", "alice's workspace", "owner")
	b.shoot("account")

	// Sign out, then arrive from the app.
	b.click(`form[action="/logout"] button`)
	b.wantAt("/login")
	if n := b.count(".session-user"); n != 0 {
		t.Fatal("still signed in after sign-out")
	}

	conf := oauth2.Config{
		ClientID: clientID, ClientSecret: clientSecret, RedirectURL: app.URL + "/cb",
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile", "offline_access"},
	}
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]
	b.open(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	b.wantAt("/login")
	b.wantText("#login-heading", "Sign in to continue to Photo Printer")
	b.shoot("login")
	b.fill("#username", "alice", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/oauth/authorize")
	b.wantText("#consent-heading", "Photo Printer")
	b.wantText(".scopes", "Confirm your identity", "Stay signed in to the app")
	b.wantText(".client-meta", "Homepage https://photos.example/", "Sends you back to 127.0.0.1", "Registered by this Latchkey’s operator")
	b.wantText(".site-nav", "Keys", "Apps", "Authorized apps", "Account")
	b.shoot("consent")

	b.click(`button[name="decision"][value="allow"]`)
	q := app.callback(t)
	if q.Get("state") != state || q.Get("code") == "" || q.Get("iss") != s.URL {
		t.Fatalf("callback %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	// The refresh token works (and rotates) before the revocation.
	tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh before revoke: %v", err)
	}
	if st := tokenTest(t, s, tok2.AccessToken); st != http.StatusOK {
		t.Fatalf("access token before revoke: %d", st)
	}

	// The person finds the app under Authorized apps and revokes it.
	b.open("/authorized")
	b.wantText(".list", "Photo Printer", "Confirm your identity", "Stay signed in to the app", "Granted")
	b.shoot("authorized")
	b.click(`form[action="/authorized/` + clientID + `/revoke"] button[type="submit"]`)
	b.wantAt("/authorized")
	b.wantText(".flash", "Revoked access for “Photo Printer”")
	b.wantText(".empty", "You have not authorized any apps")
	b.shoot("authorized-empty")

	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token()
	wantOAuthError(t, "refresh after revoke", err, "invalid_grant")
	if st := tokenTest(t, s, tok2.AccessToken); st != http.StatusUnauthorized {
		t.Fatalf("access token after revoke: %d, want 401", st)
	}

	// The next authorization asks again.
	b.open(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	b.wantText("#consent-heading", "Photo Printer")
	b.checkConsole()
}

// TestBrowserAppsRegisterRotate: a developer registers an app under /apps,
// reads the secret shown once, uses it for client_credentials, rotates it
// with no grace (the old secret is rejected at once), edits and deletes
// the app (typing its name).
func TestBrowserAppsRegisterRotate(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	const password = "bob-long-password-2025"
	s.CreateUser(t, "bob", password)
	b := newChrome(t, s.URL, browserTimeout)
	ctx := b.ctx

	// Signed out, /apps asks to sign in and comes back.
	b.open("/apps")
	b.wantAt("/login")
	b.fill("#username", "bob", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/apps")
	b.wantText(".empty", "You have not registered any apps yet")
	b.shoot("apps-empty")

	// A plain-http redirect URI is refused next to its field.
	b.fill("#name", "Build Bot", "#redirect_uris", "http://build.example/cb")
	b.check(`input[name="grant_types"][value="client_credentials"]`, true)
	if resp := b.click(`form[action="/apps"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("bad registration: status %d", resp.Status)
	}
	b.wantText("#redirect-error", "http is only allowed for localhost")
	b.shoot("apps-errors")

	// A machine client: client credentials only, no redirect URI.
	b.fill("#redirect_uris", "")
	b.check(`input[name="grant_types"][value="authorization_code"]`, false)
	b.check(`input[name="grant_types"][value="refresh_token"]`, false)
	b.check(`input[name="scopes"][value="keys:verify"]`, true)
	b.click(`form[action="/apps"] button[type="submit"]`)
	b.wantText("#secret-heading", "Build Bot")
	b.wantText(".flash", "Registered “Build Bot”")
	clientID, secret1 := b.value("#client-id"), b.value("#client-secret")
	if clientID == "" || len(secret1) < 32 {
		t.Fatalf("client id %q, secret of %d characters", clientID, len(secret1))
	}
	b.shoot("app-secret")
	b.press(`button[data-copy-target="client-secret"]`)
	b.waitCopied("client-secret")

	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret1, TokenURL: s.URL + "/oauth/token", Scopes: []string{"keys:verify"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials with the secret shown: %v", err)
	}
	if st := tokenTest(t, s, tok.AccessToken); st != http.StatusOK {
		t.Fatalf("client token: %d", st)
	}

	// The secret is shown once only.
	b.open("/apps/" + clientID + "/secret")
	b.wantAt("/apps/" + clientID)
	b.wantText(".flash", "shown only once")
	if n := b.count("#client-secret"); n != 0 {
		t.Fatal("the secret was shown twice")
	}
	b.shoot("app")

	// Edit.
	b.fill("#name", "Build Bot 2")
	b.click(`form[action="/apps/` + clientID + `"] button[type="submit"]`)
	b.wantText(".flash", "Saved changes to “Build Bot 2”")
	b.wantText("h1", "Build Bot 2")

	// Rotate with no grace: a new secret, shown once; the old one is refused at once.
	b.fill("#grace", "0")
	b.check("#confirm-rotate", true)
	b.click(`form[action="/apps/` + clientID + `/rotate"] button[type="submit"]`)
	b.wantText(".flash", "The old secret no longer works")
	secret2 := b.value("#client-secret")
	if secret2 == "" || secret2 == secret1 {
		t.Fatal("rotation showed no new secret")
	}
	b.shoot("app-secret-rotated")
	_, err = cc.Token(ctx)
	wantOAuthError(t, "old secret after rotation", err, "invalid_client")
	cc.ClientSecret = secret2
	tok2, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("new secret: %v", err)
	}

	b.click(`a.btn[href="/apps/` + clientID + `"]`) // Done
	b.open("/apps")
	b.wantText(".list", "Build Bot 2", clientID, "Confidential")
	b.shoot("apps")

	// Delete: the app and its tokens are gone.
	b.open("/apps/" + clientID)
	b.fill("#confirm-name", "Build Bot 2")
	b.click(`form[action="/apps/` + clientID + `/delete"] button[type="submit"]`)
	b.wantAt("/apps")
	b.wantText(".flash", "Deleted “Build Bot 2”")
	b.wantText(".empty", "You have not registered any apps yet")
	if st := tokenTest(t, s, tok2.AccessToken); st != http.StatusUnauthorized {
		t.Fatalf("token of a deleted app: %d, want 401", st)
	}
	_, err = cc.Token(ctx)
	wantOAuthError(t, "secret of a deleted app", err, "invalid_client")

	// Someone else's app is not found.
	otherID, _ := s.CreateClient(t, oauth.ClientSpec{Name: "Not Bob's", GrantTypes: []string{"client_credentials"}, OwnerID: "someone-else"})
	if st := b.open("/apps/" + otherID); st != http.StatusNotFound {
		t.Fatalf("another user's app: %d, want 404", st)
	}
	b.shoot("app-not-found")
	b.checkConsole()
}

// waitCopied waits until the copy button for id reports success or, where
// the clipboard is refused (headless), has selected the text for copying.
func (b *chrome) waitCopied(id string) {
	b.t.Helper()
	js := `(function(){var e=document.getElementById(` + jsString(id) + `);` +
		`var btn=document.querySelector('[data-copy-target=` + jsString(id) + `]');` +
		`return btn.textContent==="Copied"||(e.selectionStart===0&&e.selectionEnd===e.value.length&&e.value.length>0);})()`
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		} else if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			b.t.Fatalf("copy check: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("the copy button for %s did nothing", id)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestAccountPagesNeedCSRF: every state-changing form of the sign-up, apps
// and authorized-apps pages is refused without the CSRF token or with a
// wrong one, and nothing changes.
func TestAccountPagesNeedCSRF(t *testing.T) {
	s := newTestServer(t)
	const password = "carol-long-password-1"
	u := s.CreateUser(t, "carol", password)
	appID, _ := s.CreateClient(t, oauth.ClientSpec{Name: "Carol's App", OwnerID: u.ID, GrantTypes: []string{"client_credentials"}})
	c := browser(t)
	s.Login(t, c, "carol", password)
	_, page := get(t, c, s.URL+"/apps/"+appID)
	good := formValue(t, csrfRe, page)
	before, err := s.App.DB().GetClient(context.Background(), appID)
	if err != nil {
		t.Fatal(err)
	}

	posts := []struct {
		path string
		form url.Values
	}{
		{"/signup", url.Values{"username": {"mallory"}, "email": {"m@example.com"}, "password": {"mallory long password"}}},
		{"/apps", url.Values{"name": {"Evil"}, "grant_types": {"client_credentials"}, "scopes": {"openid"}}},
		{"/apps/" + appID, url.Values{"name": {"Renamed"}, "scopes": {"openid"}}},
		// Confirmed, so the missing token is the only thing wrong.
		{"/apps/" + appID + "/rotate", url.Values{"grace": {"3600"}, "confirm": {"yes"}}},
		{"/apps/" + appID + "/end-grace", url.Values{"confirm": {"yes"}}},
		{"/apps/" + appID + "/delete", url.Values{"confirm_name": {"Carol's App"}}},
		{"/authorized/" + appID + "/revoke", url.Values{}},
	}
	for _, p := range posts {
		for _, tok := range []string{"", "wrong" + good[5:]} {
			name := p.path + " without token"
			if tok != "" {
				name = p.path + " with a wrong token"
			}
			t.Run(name, func(t *testing.T) {
				v := url.Values{}
				for k, vs := range p.form {
					v[k] = vs
				}
				if tok != "" {
					v.Set("csrf_token", tok)
				}
				resp, _ := postForm(t, c, s.URL+p.path, v, s.URL)
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403", resp.StatusCode)
				}
			})
		}
	}
	ctx := context.Background()
	if _, err := s.App.DB().GetUserByUsername(ctx, "mallory"); err == nil {
		t.Error("a user was created without a CSRF token")
	}
	if cl, err := s.App.DB().GetClient(ctx, appID); err != nil || cl.Name != "Carol's App" || !bytes.Equal(cl.SecretDigest, before.SecretDigest) || cl.PreviousSecretDigest != nil {
		t.Errorf("the app changed without a CSRF token: %+v, %v", cl, err)
	}
	if cs, _ := s.App.DB().ListClientsByOwner(ctx, u.ID); len(cs) != 1 {
		t.Errorf("%d apps, want 1", len(cs))
	}
	// With the right token the same edit goes through.
	resp, _ := postForm(t, c, s.URL+"/apps/"+appID, url.Values{"csrf_token": {good}, "name": {"Renamed"}, "scopes": {"openid"}}, s.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit with the token: %d", resp.StatusCode)
	}
}
