package server_test

// End-to-end tests of the OAuth 2.0 / OpenID Connect surface (SPEC §3.1),
// driven by golang.org/x/oauth2 and a cookie-keeping browser against the
// real server (newTestServer) over SQLite.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

// 11. Public clients: PKCE S256 required, plain refused, no secret needed.
func TestE2EPublicClient(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	const redirect = "http://127.0.0.1:9/spa"
	id, sec := e.s.CreateClient(t, oauth.ClientSpec{Name: "SPA", Public: true, RedirectURIs: []string{redirect}})
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
			u := e.s.Authorize(t, c, ar.url, e2eUser, e2ePassword, "allow")
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
		// A public client cannot authenticate to introspect; a resource
		// server may introspect its tokens (issue 10).
		rsID, rsSec := e.s.CreateClient(t, oauth.ClientSpec{Name: "RS", GrantTypes: []string{"client_credentials"}, ResourceServer: true})
		m := e.introspectAs(t, rsID, rsSec, tok.AccessToken)
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
			s.Login(t, c, e2eUser, e2ePassword)
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
			u := decide(t, page, "deny")
			e.authError(t, ar, u, "access_denied")
			// Issue 12 item 6: the description says the person declined.
			if d := e.callback(t, ar, u).Get("error_description"); !strings.Contains(d, "The user declined to authorize the application.") {
				t.Errorf("error_description = %q, want it to say the user declined", d)
			}
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
	id, sec := e.s.CreateClient(t, oauth.ClientSpec{Name: "Registered", RedirectURIs: []string{registered, e2eRedirect}})

	signedIn := e.c
	{ // sign in and consent once so that a mismatch cannot hide behind the login page
		conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: e2eRedirect, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: e.s.URL + "/oauth/authorize", TokenURL: e.s.URL + "/oauth/token"}}
		ar := newAuthRequest(t, conf)
		e.code(t, ar, e.s.Authorize(t, signedIn, ar.url, e2eUser, e2ePassword, "allow"))
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
