package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestSecurityOAuth checks the OAuth findings of the security review
// (issue 10) against a real `latchkey serve`: a code issued before "Revoke
// access" on /authorized cannot be redeemed; clients made by `client
// create` require PKCE unless told otherwise; introspection is limited to
// the caller's own tokens unless the client was created with
// --resource-server; userinfo takes the token from the header only.
func TestSecurityOAuth(t *testing.T) {
	e := newEnv(t)
	const user, pass = "alice", "alice-password-123"
	cli(t, e, "user", "create", "--username", user, "--password", pass)
	in := start(t, e)
	webID, webSecret := createClient(t, e, "--name", "Web", "--redirect-uri", "http://127.0.0.1:9/cb",
		"--scopes", "openid,profile,offline_access")
	conf := &oauth2.Config{
		ClientID: webID, ClientSecret: webSecret, RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: in.URL + "/oauth/authorize", TokenURL: in.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	browser := flowtest.Browser(t)
	code := func(t *testing.T) (code, verifier string) {
		t.Helper()
		verifier = oauth2.GenerateVerifier()
		u := flowtest.Authorize(t, browser, in.URL, conf.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier)), user, pass, "allow")
		if code = u.Query().Get("code"); code == "" {
			t.Fatalf("authorization redirect %s: no code", u)
		}
		return code, verifier
	}

	t.Run("a code issued before Revoke access cannot be redeemed", func(t *testing.T) {
		pending, verifier := code(t)
		resp, page := flowtest.Get(t, browser, in.URL+"/authorized")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/authorized/`+webID+`/revoke"`) {
			t.Fatalf("/authorized before the revocation: %d, want the app listed\n%s", resp.StatusCode, page)
		}
		resp, body := flowtest.PostForm(t, browser, in.URL+"/authorized/"+webID+"/revoke",
			url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}}, in.URL)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke access: %d\n%s", resp.StatusCode, body)
		}
		if _, page = flowtest.Get(t, browser, in.URL+"/authorized"); strings.Contains(page, `action="/authorized/`+webID+`/revoke"`) {
			t.Fatal("/authorized still lists the app after the revocation")
		}
		tok, err := conf.Exchange(context.Background(), pending, oauth2.VerifierOption(verifier))
		var re *oauth2.RetrieveError
		if err == nil || !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" {
			t.Fatalf("exchange of a code issued before the revocation: %v %v, want 400 invalid_grant", tok, err)
		}
		// Authorizing again asks for consent again and works.
		fresh, v := code(t)
		if _, err := conf.Exchange(context.Background(), fresh, oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("a new authorization after the revocation: %v", err)
		}
	})

	t.Run("client create requires PKCE by default", func(t *testing.T) {
		anon := flowtest.Browser(t)
		resp, _ := flowtest.Get(t, anon, conf.AuthCodeURL("state-123456789"))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9/cb") ||
			loc.Query().Get("error") != "invalid_request" {
			t.Fatalf("authorization without PKCE: %d %q, want a redirect with invalid_request before the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
		laxID, _ := createClient(t, e, "--name", "Lax", "--redirect-uri", "http://127.0.0.1:9/cb", "--require-pkce=false")
		lax := *conf
		lax.ClientID = laxID
		resp, _ = flowtest.Get(t, anon, lax.AuthCodeURL("state-123456789"))
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
			t.Fatalf("client created with --require-pkce=false, no PKCE: %d %q, want the login page", resp.StatusCode, loc)
		}
	})

	t.Run("introspection: own tokens, or every token for a resource server", func(t *testing.T) {
		c, v := code(t)
		tok, err := conf.Exchange(context.Background(), c, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		otherID, otherSecret := createClient(t, e, "--name", "Anyone's app", "--redirect-uri", "http://127.0.0.1:9/other")
		rsID, rsSecret := createClient(t, e, "--name", "RS", "--grant-types", "client_credentials", "--resource-server")
		for _, tc := range []struct {
			name, id, secret, token string
			active                  bool
		}{
			{"own access token", webID, webSecret, tok.AccessToken, true},
			{"another client's access token", otherID, otherSecret, tok.AccessToken, false},
			{"another client's refresh token", otherID, otherSecret, tok.RefreshToken, false},
			{"resource server, access token", rsID, rsSecret, tok.AccessToken, true},
			{"resource server, refresh token", rsID, rsSecret, tok.RefreshToken, true},
		} {
			if got := active(t, in, tc.id, tc.secret, tc.token); got != tc.active {
				t.Errorf("%s: active %v, want %v", tc.name, got, tc.active)
			}
		}

		// userinfo: the header only.
		for _, tc := range []struct {
			name   string
			req    func() *http.Request
			status int
		}{
			{"header", func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, in.URL+"/oauth/userinfo", nil)
				r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				return r
			}, http.StatusOK},
			{"query", func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, in.URL+"/oauth/userinfo?access_token="+url.QueryEscape(tok.AccessToken), nil)
				return r
			}, http.StatusBadRequest},
			{"form body", func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, in.URL+"/oauth/userinfo", strings.NewReader("access_token="+url.QueryEscape(tok.AccessToken)))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			}, http.StatusBadRequest},
		} {
			resp, err := http.DefaultClient.Do(tc.req())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.status == http.StatusBadRequest && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_request")) {
				t.Errorf("userinfo with the token in the %s: %d %q, want %d", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status)
			}
		}
	})
}
