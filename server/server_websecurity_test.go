package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/server"
)

const (
	wsSessionCookie = "latchkey_session"
	wsCSRFCookie    = "latchkey_csrf"
	wsRedirect      = "http://127.0.0.1:9/cb"
	wsPassword      = "alice-password-123"
)

// wsServer starts a server with user alice and one confidential client.
func wsServer(t *testing.T) (s *testServer, clientID, clientSecret string) {
	t.Helper()
	s = newTestServer(t)
	s.CreateUser(t, "alice", wsPassword)
	clientID, clientSecret = s.CreateClient(t, oauth.ClientSpec{Name: "Web Security App", RedirectURIs: []string{wsRedirect}})
	return s, clientID, clientSecret
}

// wsAuthURL is a valid authorization request for clientID.
func wsAuthURL(s *testServer, clientID string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {wsRedirect},
		"scope": {"openid profile"}, "state": {"state-123456789"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	return s.URL + "/oauth/authorize?" + q.Encode()
}

// wsSignedIn reports whether c's session belongs to username, judged by the
// home page's session banner.
func wsSignedIn(t *testing.T, s *testServer, c *http.Client, username string) bool {
	t.Helper()
	_, body := get(t, c, s.URL+"/")
	return strings.Contains(body, "Signed in as <strong>"+username+"</strong>")
}

// wsSetCookie returns the named cookie from a response's Set-Cookie headers.
func wsSetCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// wsLoginPost posts the login form with the given CSRF token.
func wsLoginPost(t *testing.T, s *testServer, c *http.Client, username, password, csrfToken, next string) (*http.Response, string) {
	t.Helper()
	v := url.Values{"username": {username}, "password": {password}, "next": {next}}
	if csrfToken != "" {
		v.Set("csrf_token", csrfToken)
	}
	return postForm(t, c, s.URL+"/login", v, s.URL)
}

// wsCSRF loads the login page and returns its CSRF token.
func wsCSRF(t *testing.T, s *testServer, c *http.Client) string {
	t.Helper()
	_, page := get(t, c, s.URL+"/login")
	return formValue(t, csrfRe, page)
}

// wsConsentPage signs c in and opens the consent page of a fresh
// authorization request, returning the page's CSRF token and challenge.
func wsConsentPage(t *testing.T, s *testServer, c *http.Client, clientID string) (resp *http.Response, csrfToken, challenge string) {
	t.Helper()
	s.Login(t, c, "alice", wsPassword)
	resp, body := get(t, c, wsAuthURL(s, clientID))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="challenge"`) {
		t.Fatalf("consent page: status %d\n%s", resp.StatusCode, body)
	}
	return resp, formValue(t, csrfRe, body), formValue(t, challengeRe, body)
}

func wsRandomToken(t *testing.T) string {
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
	s, clientID, _ := wsServer(t)
	other := browser(t)
	foreignToken := wsCSRF(t, s, other) // valid, but for another browser's CSRF cookie

	for name, token := range map[string]string{
		"missing":      "",
		"wrong":        wsRandomToken(t),
		"garbage":      "not-a-token\x00🔥",
		"from_another": foreignToken,
	} {
		t.Run(name, func(t *testing.T) {
			c := browser(t)
			_ = wsCSRF(t, s, c) // the browser has a CSRF cookie of its own
			resp, body := wsLoginPost(t, s, c, "alice", wsPassword, token, "/")
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403\n%s", resp.StatusCode, body)
			}
			if ck := wsSetCookie(resp, wsSessionCookie); ck != nil && ck.MaxAge >= 0 {
				t.Errorf("a refused login set a session cookie: %v", ck)
			}
			if wsSignedIn(t, s, c, "alice") {
				t.Fatal("signed in without a valid CSRF token")
			}
			r, _ := get(t, c, wsAuthURL(s, clientID))
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
				t.Fatalf("authorize after a refused login: status %d Location %q, want a redirect to /login", r.StatusCode, r.Header.Get("Location"))
			}
		})
	}

	t.Run("no_csrf_cookie_at_all", func(t *testing.T) {
		c := browser(t)
		resp, body := wsLoginPost(t, s, c, "alice", wsPassword, foreignToken, "/")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403\n%s", resp.StatusCode, body)
		}
		if wsSignedIn(t, s, c, "alice") {
			t.Fatal("signed in without a CSRF cookie")
		}
	})

	t.Run("control_valid_token", func(t *testing.T) {
		c := browser(t)
		resp, body := wsLoginPost(t, s, c, "alice", wsPassword, wsCSRF(t, s, c), "/")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303\n%s", resp.StatusCode, body)
		}
		if !wsSignedIn(t, s, c, "alice") {
			t.Fatal("not signed in after a valid login")
		}
	})
}

// wsSignInWith are the next values TestWebSecurityOpenRedirect really signs
// in with; the others are checked on the login form only (same safeNext).
var wsSignInWith = map[string]bool{
	"//evil.example": true, "https://evil.example": true, `/\evil.example`: true, "javascript:alert(1)": true,
	"/\t/evil.example": true, "///evil.example": true,
}

// (b) a cross-site next is never followed after login.
func TestWebSecurityOpenRedirect(t *testing.T) {
	t.Parallel()
	s, _, _ := wsServer(t)
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
			if !wsSignInWith[next] {
				return // each sign-in costs an argon2id verification; sign in for a representative subset
			}
			resp, body := wsLoginPost(t, s, c, "alice", wsPassword, formValue(t, csrfRe, page), next)
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
		resp, body := wsLoginPost(t, s, c, "alice", wsPassword, wsCSRF(t, s, c), next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
			t.Fatalf("status %d Location %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, body)
		}
	})
}

// (c) the pages cannot be framed and carry a strict policy.
func TestWebSecurityHeaders(t *testing.T) {
	t.Parallel()
	s, clientID, _ := wsServer(t)
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
		resp, _, _ := wsConsentPage(t, s, browser(t), clientID)
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

var wsFieldErrorRe = regexp.MustCompile(`(?s)<p class="field-error"[^>]*>(.*?)</p>`)

// wsLoginError returns the login form's error sentence.
func wsLoginError(t *testing.T, body string) string {
	t.Helper()
	m := wsFieldErrorRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no error message on the login page:\n%s", body)
	}
	return strings.TrimSpace(m[1])
}

// wsBrowserFrom is a browser whose connections come from the loopback
// address ip, so the per-IP login throttle sees it as another client.
func wsBrowserFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	c := browser(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c.Transport = tr
	return c
}

// wsLoopbackAliases reports whether 127.0.0.2 and 127.0.0.3 can be used as
// source addresses (Linux: yes; macOS: only with an ifconfig alias).
func wsLoopbackAliases() bool {
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			return false
		}
		_ = ln.Close()
	}
	return true
}

// (d) guessing is throttled, and the throttle does not tell who exists.
func TestWebSecurityLoginThrottle(t *testing.T) {
	t.Parallel()
	s, _, _ := wsServer(t)
	aliases := wsLoopbackAliases()
	// sUnknown serves the unknown-username guesser: the same server from
	// another address when possible, else a server of its own (the per-IP
	// limit would otherwise refuse it from the first attempt).
	sUnknown, ipUnknown := s, "127.0.0.3"
	if !aliases {
		sUnknown, _, _ = wsServer(t)
		ipUnknown = "127.0.0.1"
	}
	// guess fails ten times for username from ip, then tries last once
	// more, returning the failure messages and the final page.
	guess := func(t *testing.T, s *testServer, ip, username, last string) (fail []string, body string) {
		t.Helper()
		c := wsBrowserFrom(t, ip)
		for i := 0; i < 10; i++ {
			r, b := wsLoginPost(t, s, c, username, "wrong-password-"+string(rune('a'+i)), wsCSRF(t, s, c), "/")
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s attempt %d: status %d, want 401\n%s", username, i+1, r.StatusCode, b)
			}
			fail = append(fail, wsLoginError(t, b))
		}
		resp, body := wsLoginPost(t, s, c, username, last, wsCSRF(t, s, c), "/")
		if wsSignedIn(t, s, c, username) {
			t.Fatalf("%s signed in while throttled", username)
		}
		if ck := wsSetCookie(resp, wsSessionCookie); ck != nil && ck.MaxAge >= 0 {
			t.Errorf("a throttled login set a session cookie")
		}
		if strings.Contains(body, last) {
			t.Errorf("the page echoes the password")
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("11th attempt for %s: status %d, want 429\n%s", username, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return fail, body
	}

	// The 11th attempt, with the right password, is refused: from the same
	// address (per-IP and per-username limits) and from a fresh address
	// (the per-username limit alone). An unknown username, from its own
	// address, must see exactly the same. Both guessers run at once.
	var known, unknown []string
	var knownBody, unknownBody string
	t.Run("guess", func(t *testing.T) {
		t.Run("known_user", func(t *testing.T) {
			t.Parallel()
			known, knownBody = guess(t, s, "127.0.0.1", "alice", wsPassword)
			if !aliases {
				t.Log("no loopback aliases: the per-username limit is not checked from a fresh address")
				return
			}
			c := wsBrowserFrom(t, "127.0.0.2")
			r, b := wsLoginPost(t, s, c, "alice", wsPassword, wsCSRF(t, s, c), "/")
			if r.StatusCode != http.StatusTooManyRequests || wsSignedIn(t, s, c, "alice") {
				t.Fatalf("right password for a throttled username from another address: status %d, want 429\n%s", r.StatusCode, b)
			}
			if got, want := wsLoginError(t, b), wsLoginError(t, knownBody); got != want {
				t.Errorf("429 message %q from another address, %q from the first", got, want)
			}
		})
		t.Run("unknown_user", func(t *testing.T) {
			t.Parallel()
			unknown, unknownBody = guess(t, sUnknown, ipUnknown, "nobody-by-this-name", "any-password-at-all")
		})
	})
	if t.Failed() {
		return
	}
	for i := range known {
		if known[i] != unknown[i] {
			t.Errorf("failure %d: %q for a real user, %q for an unknown one", i+1, known[i], unknown[i])
		}
	}
	km, um := wsLoginError(t, knownBody), wsLoginError(t, unknownBody)
	if km != um {
		t.Errorf("429 message differs: %q (real user) vs %q (unknown user)", km, um)
	}
	for _, leak := range []string{"not found", "no such", "does not exist", "unknown user", "exists"} {
		if strings.Contains(strings.ToLower(km+" "+known[0]), leak) {
			t.Errorf("message %q / %q reveals whether the user exists", km, known[0])
		}
	}
}

// (e) session cookie flags and a fresh session on login.
func TestWebSecuritySessionCookie(t *testing.T) {
	t.Parallel()
	s, _, _ := wsServer(t)
	s.CreateUser(t, "mallory", "mallory-password-123")

	t.Run("flags", func(t *testing.T) {
		c := browser(t)
		page, _ := get(t, c, s.URL+"/login")
		csrfCookie := wsSetCookie(page, wsCSRFCookie)
		if csrfCookie == nil {
			t.Fatal("no CSRF cookie on the login page")
		}
		resp, body := wsLoginPost(t, s, c, "alice", wsPassword, wsCSRF(t, s, c), "/")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
		}
		sess := wsSetCookie(resp, wsSessionCookie)
		if sess == nil {
			t.Fatal("no session cookie after login")
		}
		for _, ck := range []*http.Cookie{sess, csrfCookie} {
			if !ck.HttpOnly {
				t.Errorf("%s is not HttpOnly", ck.Name)
			}
			if ck.SameSite != http.SameSiteLaxMode {
				t.Errorf("%s SameSite = %v, want Lax", ck.Name, ck.SameSite)
			}
			if ck.Path != "/" {
				t.Errorf("%s Path = %q, want /", ck.Name, ck.Path)
			}
			if ck.Secure {
				t.Errorf("%s is Secure on an http issuer (the browser would drop it)", ck.Name)
			}
			if ck.Domain != "" {
				t.Errorf("%s has Domain %q, want a host-only cookie", ck.Name, ck.Domain)
			}
		}
		if sess.MaxAge <= 0 || sess.MaxAge > 24*3600 {
			t.Errorf("session Max-Age = %d, want a bounded lifetime", sess.MaxAge)
		}
		if strings.Contains(sess.Value, "alice") {
			t.Errorf("session cookie carries the username in clear: %q", sess.Value)
		}
	})

	t.Run("fixation", func(t *testing.T) {
		issuer, _ := url.Parse(s.URL)
		// The attacker's own valid session, and a made-up one.
		m := browser(t)
		s.Login(t, m, "mallory", "mallory-password-123")
		var planted string
		for _, ck := range m.Jar.Cookies(issuer) {
			if ck.Name == wsSessionCookie {
				planted = ck.Value
			}
		}
		if planted == "" {
			t.Fatal("no session cookie for mallory")
		}
		for name, value := range map[string]string{"attacker_session": planted, "made_up": "planted-session-value"} {
			t.Run(name, func(t *testing.T) {
				v := browser(t)
				v.Jar.SetCookies(issuer, []*http.Cookie{{Name: wsSessionCookie, Value: value, Path: "/"}})
				resp, body := wsLoginPost(t, s, v, "alice", wsPassword, wsCSRF(t, s, v), "/")
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
				}
				after := wsSetCookie(resp, wsSessionCookie)
				if after == nil || after.Value == "" {
					t.Fatal("login did not issue a session cookie")
				}
				if after.Value == value {
					t.Fatal("the planted session cookie survived login")
				}
				if !wsSignedIn(t, s, v, "alice") {
					t.Fatal("victim not signed in as alice")
				}
				// Whoever holds the planted value is not alice.
				a := browser(t)
				a.Jar.SetCookies(issuer, []*http.Cookie{{Name: wsSessionCookie, Value: value, Path: "/"}})
				if wsSignedIn(t, s, a, "alice") {
					t.Fatal("the planted cookie now carries alice's session")
				}
			})
		}
	})

	t.Run("new_value_each_login", func(t *testing.T) {
		c := browser(t)
		seen := map[string]bool{}
		for i := 0; i < 2; i++ {
			resp, body := wsLoginPost(t, s, c, "alice", wsPassword, wsCSRF(t, s, c), "/")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login %d: status %d\n%s", i, resp.StatusCode, body)
			}
			ck := wsSetCookie(resp, wsSessionCookie)
			if ck == nil || seen[ck.Value] {
				t.Fatalf("login %d reused a session cookie value", i)
			}
			seen[ck.Value] = true
		}
	})
}

// (f) logout ends the session.
func TestWebSecurityLogout(t *testing.T) {
	t.Parallel()
	s, clientID, _ := wsServer(t)
	issuer, _ := url.Parse(s.URL)
	c := browser(t)
	s.Login(t, c, "alice", wsPassword)
	var before string
	for _, ck := range c.Jar.Cookies(issuer) {
		if ck.Name == wsSessionCookie {
			before = ck.Value
		}
	}
	_, home := get(t, c, s.URL+"/")
	token := formValue(t, csrfRe, home)

	t.Run("without_csrf_refused", func(t *testing.T) {
		resp, body := postForm(t, c, s.URL+"/logout", url.Values{}, s.URL)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout without CSRF: status %d, want 403\n%s", resp.StatusCode, body)
		}
		if !wsSignedIn(t, s, c, "alice") {
			t.Fatal("a forged logout ended the session")
		}
	})

	t.Run("logout", func(t *testing.T) {
		resp, body := postForm(t, c, s.URL+"/logout", url.Values{"csrf_token": {token}}, s.URL)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: status %d Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if ck := wsSetCookie(resp, wsSessionCookie); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("logout did not expire the session cookie: %v", ck)
		}
		r, _ := get(t, c, wsAuthURL(s, clientID))
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Fatalf("authorize after logout: status %d Location %q, want a redirect to /login", r.StatusCode, r.Header.Get("Location"))
		}
		if wsSignedIn(t, s, c, "alice") {
			t.Fatal("still signed in after logout")
		}
	})

	t.Run("old_cookie_replayed", func(t *testing.T) {
		a := browser(t)
		a.Jar.SetCookies(issuer, []*http.Cookie{{Name: wsSessionCookie, Value: before, Path: "/"}})
		if wsSignedIn(t, s, a, "alice") {
			t.Fatal("the session cookie from before logout still works")
		}
	})
}

// (g) a consent decision posted from another origin is refused.
func TestWebSecurityConsentOrigin(t *testing.T) {
	t.Parallel()
	s, clientID, _ := wsServer(t)
	c := browser(t)
	_, token, challenge := wsConsentPage(t, s, c, clientID)
	v := url.Values{"csrf_token": {token}, "challenge": {challenge}, "decision": {"allow"}}
	for _, origin := range []string{"https://evil.example", "http://evil.example", "null", strings.Replace(s.URL, "127.0.0.1", "localhost", 1)} {
		t.Run(origin, func(t *testing.T) {
			resp, body := postForm(t, c, s.URL+"/oauth/consent", v, origin)
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("consent from Origin %s: status %d, want 403\n%s", origin, resp.StatusCode, body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Fatalf("consent from another origin redirected to %s", loc)
			}
		})
	}
	t.Run("control_same_origin", func(t *testing.T) {
		resp, body := postForm(t, c, s.URL+"/oauth/consent", v, s.URL)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("same-origin consent: status %d\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(resp.Header.Get("Location"))
		if u == nil || u.Query().Get("code") == "" {
			t.Fatalf("no code after a same-origin allow: %s", resp.Header.Get("Location"))
		}
	})
}

// wsLogBuffer collects everything the server logs.
type wsLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *wsLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *wsLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wsLoggedServer is newTestServer with every log line, at debug level,
// captured in memory through the logger `latchkey serve` uses (JSON,
// request ids from the context, credentials redacted).
func wsLoggedServer(t *testing.T) (*testServer, *wsLogBuffer) {
	t.Helper()
	logs := &wsLogBuffer{}
	cfg := config.Defaults()
	cfg.Log.Level = "debug"
	return startTestServer(t, nil, server.NewLogger(cfg, logs)), logs
}

// (h) a full flow — sign-up, login, consent, code exchange, refresh, key
// creation and exchange — with failures (wrong secrets and passwords,
// malformed keys, keys where they are refused or in the URL) never logs a
// secret, and every line logged during a request carries its request_id.
func TestWebSecurityNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	s, logs := wsLoggedServer(t)
	// Lines logged while the server was wired (e.g. "database migrated")
	// belong to no request.
	startup := strings.Count(logs.String(), "\n")
	s.CreateUser(t, "alice", wsPassword)
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Logged App", RedirectURIs: []string{wsRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}})
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: wsRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "offline_access", "profile", "email"}}
	sensitive := map[string]string{"client secret": sec, "password": wsPassword}

	// A wrong password, then the real flow.
	c := browser(t)
	wrongPassword := "Wrong-Password-" + wsRandomToken(t)[:12]
	sensitive["wrong password"] = wrongPassword
	csrfToken := wsCSRF(t, s, c)
	sensitive["csrf token"] = csrfToken
	resp, body := wsLoginPost(t, s, c, "alice", wrongPassword, csrfToken, "/")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", resp.StatusCode)
	}
	if strings.Contains(body, wrongPassword) {
		t.Error("the login page echoes the password")
	}
	verifier := oauth2.GenerateVerifier()
	sensitive["code verifier"] = verifier
	u := s.Authorize(t, c, conf.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-123456789")), "alice", wsPassword, "allow")
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", u)
	}
	sensitive["code"] = code
	issuer, _ := url.Parse(s.URL)
	for _, ck := range c.Jar.Cookies(issuer) {
		sensitive["cookie "+ck.Name] = ck.Value
	}

	// Failures that carry secret-looking values.
	for _, v := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {wsRedirect}, "client_id": {id}, "client_secret": {sec + "-typo"}, "code_verifier": {verifier}},
		{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {wsRedirect + "/x"}, "client_id": {id}, "client_secret": {sec}, "code_verifier": {verifier}},
		{"grant_type": {"password"}, "username": {"alice"}, "password": {wsPassword}, "client_id": {id}, "client_secret": {sec}},
	} {
		resp, body := postForm(t, http.DefaultClient, s.URL+"/oauth/token", v, "")
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("bad token request: status %d\n%s", resp.StatusCode, body)
		}
		if strings.Contains(body, sec) || strings.Contains(body, wsPassword) {
			t.Errorf("token error echoes a secret: %s", body)
		}
	}
	sensitive["mistyped secret"] = sec + "-typo"

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	sensitive["access token"] = tok.AccessToken
	sensitive["refresh token"] = tok.RefreshToken
	if idt, ok := tok.Extra("id_token").(string); ok && idt != "" {
		sensitive["id token"] = idt
	} else {
		t.Error("no id_token")
	}

	tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	sensitive["refreshed access token"] = tok2.AccessToken
	sensitive["refreshed refresh token"] = tok2.RefreshToken

	call := func(method, path string, v url.Values, prepare func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if prepare != nil {
			prepare(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass)) }
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if st, b := call("POST", "/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, basic(id, sec)); st != 200 || !strings.Contains(b, `"active":true`) {
		t.Errorf("introspect: %d %s", st, b)
	}
	if st, _ := call("POST", "/oauth/introspect", url.Values{"token": {tok2.AccessToken}}, basic(id, sec+"-typo")); st != 401 {
		t.Errorf("introspect with a wrong secret: %d", st)
	}
	if st, b := call("GET", "/oauth/userinfo", nil, bearer(tok2.AccessToken)); st != 200 {
		t.Errorf("userinfo: %d %s", st, b)
	}
	if st, _ := call("GET", "/oauth/userinfo", nil, bearer(tok.AccessToken+"x")); st != 401 {
		t.Errorf("userinfo with a broken token: %d", st)
	}
	if st, b := call("POST", "/oauth/revoke", url.Values{"token": {tok2.RefreshToken}}, basic(id, sec)); st != 200 {
		t.Errorf("revoke: %d %s", st, b)
	}
	if st, _ := call("POST", "/oauth/revoke", url.Values{"token": {tok2.AccessToken}}, basic(id, sec+"-typo")); st != 401 {
		t.Errorf("revoke with a wrong secret: %d", st)
	}
	cc, ccBody := call("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, basic(id, sec))
	if cc != 200 {
		t.Fatalf("client_credentials: %d %s", cc, ccBody)
	}
	var ccTok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(ccBody), &ccTok)
	sensitive["client credentials token"] = ccTok.AccessToken
	// Reusing the rotated refresh token is refused (and revokes the family).
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("rotated refresh token accepted")
	}
	// Replaying the code is refused (and revokes what it issued).
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
		t.Error("code replay accepted")
	}

	// Sign-up through the form, with a request id of our own.
	bob := browser(t)
	_, page := get(t, bob, s.URL+"/signup")
	bobPassword := "Bob-Password-" + wsRandomToken(t)[:12]
	sensitive["sign-up password"] = bobPassword
	signupID := "ws-signup-" + wsRandomToken(t)[:8]
	req, _ := http.NewRequest("POST", s.URL+"/signup", strings.NewReader(url.Values{"username": {"bob"}, "email": {"bob@example.com"},
		"password": {bobPassword}, "csrf_token": {formValue(t, csrfRe, page)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	req.Header.Set("X-Request-Id", signupID)
	if resp, err := bob.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, ck := range bob.Jar.Cookies(issuer) {
		sensitive["sign-up cookie "+ck.Name] = ck.Value
	}

	// An API key: created (password), exchanged, and presented wrongly.
	apiPassword := basic("alice", wsPassword)
	keyStatus, keyBody := call("POST", "/user/keys", nil, func(r *http.Request) {
		apiPassword(r)
		r.Header.Set("Content-Type", "application/json")
		r.Body = io.NopCloser(strings.NewReader(`{"handle":"ci","scopes":["users:read"]}`))
	})
	var created struct {
		Key string `json:"key"`
	}
	if _ = json.Unmarshal([]byte(keyBody), &created); keyStatus != 201 || created.Key == "" {
		t.Fatalf("create key: %d %s", keyStatus, keyBody)
	}
	apiKey := created.Key
	sensitive["api key"] = apiKey
	genStatus, genBody := call("POST", "/tokens/generate", nil, bearer(apiKey))
	var exchanged struct {
		Token string `json:"token"`
	}
	if _ = json.Unmarshal([]byte(genBody), &exchanged); genStatus != 200 || exchanged.Token == "" {
		t.Fatalf("key exchange: %d %s", genStatus, genBody)
	}
	sensitive["exchanged token"] = exchanged.Token
	malformed := apiKey[:len(apiKey)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(apiKey, "A")]
	sensitive["malformed key"] = malformed
	wrongAPIPassword := "Wrong-Api-Password-" + wsRandomToken(t)[:8]
	sensitive["wrong API password"] = wrongAPIPassword
	for _, bad := range []struct {
		what, method, path string
		prepare            func(*http.Request)
		want               int
	}{
		{"key with a broken checksum", "GET", "/v1/users/me", bearer(malformed), 401},
		{"wrong password", "GET", "/v1/users/me", basic("alice", wrongAPIPassword), 401},
		{"key as introspection credentials", "POST", "/oauth/introspect", bearer(apiKey), 401},
		{"key at userinfo", "GET", "/oauth/userinfo", bearer(apiKey), 401},
		{"key in the query string", "GET", "/v1/users/me?api_key=" + url.QueryEscape(apiKey), nil, 400},
		{"key in the path", "GET", "/user/keys/" + apiKey, apiPassword, 404},
		{"exchanged token in the path", "GET", "/user/keys/" + exchanged.Token, apiPassword, 404},
	} {
		if st, b := call(bad.method, bad.path, url.Values{"token": {apiKey}}, bad.prepare); st != bad.want {
			t.Errorf("%s: %d %s, want %d", bad.what, st, b, bad.want)
		}
	}
	if st, b := call("GET", "/v1/users/me", nil, bearer(apiKey)); st != 200 {
		t.Errorf("key call: %d %s", st, b)
	}

	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) || !strings.Contains(out, "/oauth/token") {
		t.Fatalf("captured no request logs at debug level; the check would be vacuous:\n%s", out)
	}
	// The access log writes paths; the credentials in them are redacted.
	if !strings.Contains(out, `"path":"/user/keys/[REDACTED]"`) {
		t.Errorf("no redacted path in the access log")
	}
	// Every line after start-up was logged during a request: each carries the id.
	var signupLines int
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		id, _ := rec["request_id"].(string)
		if id == "" && i >= startup {
			t.Errorf("line without request_id: %s", line)
		}
		if id == signupID {
			signupLines++
			if rec["msg"] != "request" && rec["msg"] != "signup" {
				t.Errorf("unexpected line for the sign-up request: %s", line)
			}
		}
	}
	if signupLines != 2 { // the handler's "signup" line and the access log line
		t.Errorf("%d lines carry the sign-up's request id %s, want 2", signupLines, signupID)
	}
	for what, v := range sensitive {
		if v == "" {
			t.Errorf("%s is empty; the check would be vacuous", what)
			continue
		}
		// Check the value and each dot-separated part (the HMAC signature
		// of a token is what a log would most likely show).
		for _, part := range append([]string{v}, strings.Split(v, ".")...) {
			if len(part) >= 12 && strings.Contains(out, part) {
				t.Errorf("the logs contain the %s (%q)", what, part)
			}
		}
		if esc := url.QueryEscape(v); esc != v && strings.Contains(out, esc) {
			t.Errorf("the logs contain the URL-encoded %s", what)
		}
	}
	if t.Failed() {
		t.Logf("captured logs:\n%s", out)
	}
}
