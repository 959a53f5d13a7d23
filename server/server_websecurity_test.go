package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/oauth"
)

const (
	sessionCookieName = "latchkey_session"
	csrfCookieName    = "latchkey_csrf"
	redirectURI       = "http://127.0.0.1:9/cb"
	alicePassword     = "alice-password-123"
)

// serverWithClient starts a server with user alice and one confidential client.
func serverWithClient(t *testing.T) (s *testServer, clientID, clientSecret string) {
	t.Helper()
	s = newTestServer(t)
	s.CreateUser(t, "alice", alicePassword)
	clientID, clientSecret = s.CreateClient(t, oauth.ClientSpec{Name: "Web Security App", RedirectURIs: []string{redirectURI}})
	return s, clientID, clientSecret
}

// authorizeURL is a valid authorization request for clientID.
func authorizeURL(s *testServer, clientID string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile"}, "state": {"state-123456789"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	return s.URL + "/oauth/authorize?" + q.Encode()
}

// isSignedIn reports whether c's session belongs to username, judged by the
// home page's session banner.
func isSignedIn(t *testing.T, s *testServer, c *http.Client, username string) bool {
	t.Helper()
	_, body := get(t, c, s.URL+"/")
	return strings.Contains(body, "Signed in as <strong>"+username+"</strong>")
}

// setCookie returns the named cookie from a response's Set-Cookie headers.
func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// loginPost posts the login form with the given CSRF token.
func loginPost(t *testing.T, s *testServer, c *http.Client, username, password, csrfToken, next string) (*http.Response, string) {
	t.Helper()
	v := url.Values{"username": {username}, "password": {password}, "next": {next}}
	if csrfToken != "" {
		v.Set("csrf_token", csrfToken)
	}
	return postForm(t, c, s.URL+"/login", v, s.URL)
}

// fetchCSRF loads the login page and returns its CSRF token.
func fetchCSRF(t *testing.T, s *testServer, c *http.Client) string {
	t.Helper()
	_, page := get(t, c, s.URL+"/login")
	return formValue(t, csrfRe, page)
}

// consentPage signs c in and opens the consent page of a fresh
// authorization request, returning the page's CSRF token and challenge.
func consentPage(t *testing.T, s *testServer, c *http.Client, clientID string) (resp *http.Response, csrfToken, challenge string) {
	t.Helper()
	s.Login(t, c, "alice", alicePassword)
	resp, body := get(t, c, authorizeURL(s, clientID))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="challenge"`) {
		t.Fatalf("consent page: status %d\n%s", resp.StatusCode, body)
	}
	return resp, formValue(t, csrfRe, body), formValue(t, challengeRe, body)
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// (a) the login form is refused without a valid CSRF token.
func TestWebSecurityLoginCSRF(t *testing.T) {
	t.Parallel()
	s, clientID, _ := serverWithClient(t)
	other := browser(t)
	foreignToken := fetchCSRF(t, s, other) // valid, but for another browser's CSRF cookie

	for name, token := range map[string]string{
		"missing":      "",
		"wrong":        randomToken(t),
		"garbage":      "not-a-token\x00🔥",
		"from_another": foreignToken,
	} {
		t.Run(name, func(t *testing.T) {
			c := browser(t)
			_ = fetchCSRF(t, s, c) // the browser has a CSRF cookie of its own
			resp, body := loginPost(t, s, c, "alice", alicePassword, token, "/")
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403\n%s", resp.StatusCode, body)
			}
			if ck := setCookie(resp, sessionCookieName); ck != nil && ck.MaxAge >= 0 {
				t.Errorf("a refused login set a session cookie: %v", ck)
			}
			if isSignedIn(t, s, c, "alice") {
				t.Fatal("signed in without a valid CSRF token")
			}
			r, _ := get(t, c, authorizeURL(s, clientID))
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
				t.Fatalf("authorize after a refused login: status %d Location %q, want a redirect to /login", r.StatusCode, r.Header.Get("Location"))
			}
		})
	}

	t.Run("no_csrf_cookie_at_all", func(t *testing.T) {
		c := browser(t)
		resp, body := loginPost(t, s, c, "alice", alicePassword, foreignToken, "/")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403\n%s", resp.StatusCode, body)
		}
		if isSignedIn(t, s, c, "alice") {
			t.Fatal("signed in without a CSRF cookie")
		}
	})

	t.Run("control_valid_token", func(t *testing.T) {
		c := browser(t)
		resp, body := loginPost(t, s, c, "alice", alicePassword, fetchCSRF(t, s, c), "/")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303\n%s", resp.StatusCode, body)
		}
		if !isSignedIn(t, s, c, "alice") {
			t.Fatal("not signed in after a valid login")
		}
	})
}

// signInWith are the next values TestWebSecurityOpenRedirect really signs
// in with; the others are checked on the login form only (same safeNext).
var signInWith = map[string]bool{
	"//evil.example": true, "https://evil.example": true, `/\evil.example`: true, "javascript:alert(1)": true,
	"/\t/evil.example": true, "///evil.example": true,
}

// (b) a cross-site next is never followed after login.
func TestWebSecurityOpenRedirect(t *testing.T) {
	t.Parallel()
	s, _, _ := serverWithClient(t)
	for _, next := range []string{
		"//evil.example",
		"//evil.example/path?x=1",
		"https://evil.example",
		"http://evil.example/",
		`/\evil.example`,
		`\\evil.example`,
		"javascript:alert(1)",
		"JaVaScRiPt:alert(document.cookie)",
		"data:text/html,<script>alert(1)</script>",
		"https:evil.example",
		"/\t/evil.example",
		"/\r\n/evil.example",
		"///evil.example",
		"evil.example",
		"@evil.example",
		s.URL + ".evil.example/",
	} {
		t.Run(next, func(t *testing.T) {
			c := browser(t)
			resp, page := get(t, c, s.URL+"/login?next="+url.QueryEscape(next))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login page: status %d", resp.StatusCode)
			}
			if m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page); m == nil || htmlUnescape(m[1]) != "/" {
				t.Errorf("login page keeps next = %v, want /", m)
			}
			if !signInWith[next] {
				return // each sign-in costs an argon2id verification; sign in for a representative subset
			}
			resp, body := loginPost(t, s, c, "alice", alicePassword, formValue(t, csrfRe, page), next)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303\n%s", resp.StatusCode, body)
			}
			loc := resp.Header.Get("Location")
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
				t.Fatalf("Location %q leaves the site", loc)
			}
			u, err := url.Parse(loc)
			if err != nil || u.Scheme != "" || u.Host != "" {
				t.Fatalf("Location %q is not a local path", loc)
			}
			if strings.Contains(strings.ToLower(loc), "evil") || strings.Contains(strings.ToLower(loc), "javascript") {
				t.Errorf("Location %q carries the attacker's target", loc)
			}
		})
	}

	t.Run("control_local_next_kept", func(t *testing.T) {
		c := browser(t)
		next := "/oauth/authorize?client_id=x&state=y"
		resp, body := loginPost(t, s, c, "alice", alicePassword, fetchCSRF(t, s, c), next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
			t.Fatalf("status %d Location %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, body)
		}
	})
}

// (c) the pages cannot be framed and carry a strict policy.
func TestWebSecurityHeaders(t *testing.T) {
	t.Parallel()
	s, clientID, _ := serverWithClient(t)
	check := func(t *testing.T, resp *http.Response) {
		t.Helper()
		h := resp.Header
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("X-Frame-Options = %q, want DENY", got)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q lacks frame-ancestors 'none'", csp)
		}
		for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*;", "* "} {
			if strings.Contains(csp+";", bad) {
				t.Errorf("CSP %q contains %s", csp, bad)
			}
		}
		if !strings.Contains(csp, "default-src") {
			t.Errorf("CSP %q has no default-src", csp)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
		}
		switch got := h.Get("Referrer-Policy"); got {
		case "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin":
		default:
			t.Errorf("Referrer-Policy = %q, want one that never leaks the path cross-site", got)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("HSTS on an http issuer: %q", h.Get("Strict-Transport-Security"))
		}
	}
	t.Run("login", func(t *testing.T) {
		resp, _ := get(t, browser(t), s.URL+"/login")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		check(t, resp)
	})
	t.Run("consent", func(t *testing.T) {
		resp, _, _ := consentPage(t, s, browser(t), clientID)
		check(t, resp)
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("consent page Cache-Control = %q, want no-store", cc)
		}
	})
	t.Run("authorize_error_page", func(t *testing.T) {
		resp, _ := get(t, browser(t), s.URL+"/oauth/authorize?response_type=code&client_id=nope")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
		check(t, resp)
	})
}
