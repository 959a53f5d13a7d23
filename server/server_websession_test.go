package server_test

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var fieldErrorRe = regexp.MustCompile(`(?s)<p class="field-error"[^>]*>(.*?)</p>`)

// loginError returns the login form's error sentence.
func loginError(t *testing.T, body string) string {
	t.Helper()
	m := fieldErrorRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no error message on the login page:\n%s", body)
	}
	return strings.TrimSpace(m[1])
}

// browserFrom is a browser whose connections come from the loopback
// address ip, so the per-IP login throttle sees it as another client.
func browserFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	c := browser(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	c.Transport = tr
	return c
}

// loopbackAliases reports whether 127.0.0.2 and 127.0.0.3 can be used as
// source addresses (Linux: yes; macOS: only with an ifconfig alias).
func loopbackAliases() bool {
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
	s, _, _ := serverWithClient(t)
	aliases := loopbackAliases()
	// sUnknown serves the unknown-username guesser: the same server from
	// another address when possible, else a server of its own (the per-IP
	// limit would otherwise refuse it from the first attempt).
	sUnknown, ipUnknown := s, "127.0.0.3"
	if !aliases {
		sUnknown, _, _ = serverWithClient(t)
		ipUnknown = "127.0.0.1"
	}
	// guess fails ten times for username from ip, then tries last once
	// more, returning the failure messages and the final page.
	guess := func(t *testing.T, s *testServer, ip, username, last string) (fail []string, body string) {
		t.Helper()
		c := browserFrom(t, ip)
		for i := 0; i < 10; i++ {
			r, b := loginPost(t, s, c, username, "wrong-password-"+string(rune('a'+i)), fetchCSRF(t, s, c), "/")
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s attempt %d: status %d, want 401\n%s", username, i+1, r.StatusCode, b)
			}
			fail = append(fail, loginError(t, b))
		}
		resp, body := loginPost(t, s, c, username, last, fetchCSRF(t, s, c), "/")
		if isSignedIn(t, s, c, username) {
			t.Fatalf("%s signed in while throttled", username)
		}
		if ck := setCookie(resp, sessionCookieName); ck != nil && ck.MaxAge >= 0 {
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
			known, knownBody = guess(t, s, "127.0.0.1", "alice", alicePassword)
			if !aliases {
				t.Log("no loopback aliases: the per-username limit is not checked from a fresh address")
				return
			}
			c := browserFrom(t, "127.0.0.2")
			r, b := loginPost(t, s, c, "alice", alicePassword, fetchCSRF(t, s, c), "/")
			if r.StatusCode != http.StatusTooManyRequests || isSignedIn(t, s, c, "alice") {
				t.Fatalf("right password for a throttled username from another address: status %d, want 429\n%s", r.StatusCode, b)
			}
			if got, want := waitless(loginError(t, b)), waitless(loginError(t, knownBody)); got != want {
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
	// The seconds to wait count from each username's first failure, so
	// they may differ by one between the two runs; the words may not.
	km, um := loginError(t, knownBody), loginError(t, unknownBody)
	if waitless(km) != waitless(um) {
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
	s, _, _ := serverWithClient(t)
	s.CreateUser(t, "mallory", "mallory-password-123")

	t.Run("flags", func(t *testing.T) {
		c := browser(t)
		page, _ := get(t, c, s.URL+"/login")
		csrfCookie := setCookie(page, csrfCookieName)
		if csrfCookie == nil {
			t.Fatal("no CSRF cookie on the login page")
		}
		resp, body := loginPost(t, s, c, "alice", alicePassword, fetchCSRF(t, s, c), "/")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
		}
		sess := setCookie(resp, sessionCookieName)
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
			if ck.Name == sessionCookieName {
				planted = ck.Value
			}
		}
		if planted == "" {
			t.Fatal("no session cookie for mallory")
		}
		for name, value := range map[string]string{"attacker_session": planted, "made_up": "planted-session-value"} {
			t.Run(name, func(t *testing.T) {
				v := browser(t)
				v.Jar.SetCookies(issuer, []*http.Cookie{{Name: sessionCookieName, Value: value, Path: "/"}})
				resp, body := loginPost(t, s, v, "alice", alicePassword, fetchCSRF(t, s, v), "/")
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
				}
				after := setCookie(resp, sessionCookieName)
				if after == nil || after.Value == "" {
					t.Fatal("login did not issue a session cookie")
				}
				if after.Value == value {
					t.Fatal("the planted session cookie survived login")
				}
				if !isSignedIn(t, s, v, "alice") {
					t.Fatal("victim not signed in as alice")
				}
				// Whoever holds the planted value is not alice.
				a := browser(t)
				a.Jar.SetCookies(issuer, []*http.Cookie{{Name: sessionCookieName, Value: value, Path: "/"}})
				if isSignedIn(t, s, a, "alice") {
					t.Fatal("the planted cookie now carries alice's session")
				}
			})
		}
	})

	t.Run("new_value_each_login", func(t *testing.T) {
		c := browser(t)
		seen := map[string]bool{}
		for i := 0; i < 2; i++ {
			resp, body := loginPost(t, s, c, "alice", alicePassword, fetchCSRF(t, s, c), "/")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login %d: status %d\n%s", i, resp.StatusCode, body)
			}
			ck := setCookie(resp, sessionCookieName)
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
	s, clientID, _ := serverWithClient(t)
	issuer, _ := url.Parse(s.URL)
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	var before string
	for _, ck := range c.Jar.Cookies(issuer) {
		if ck.Name == sessionCookieName {
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
		if !isSignedIn(t, s, c, "alice") {
			t.Fatal("a forged logout ended the session")
		}
	})

	t.Run("logout", func(t *testing.T) {
		resp, body := postForm(t, c, s.URL+"/logout", url.Values{"csrf_token": {token}}, s.URL)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("logout: status %d Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if ck := setCookie(resp, sessionCookieName); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("logout did not expire the session cookie: %v", ck)
		}
		r, _ := get(t, c, authorizeURL(s, clientID))
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Fatalf("authorize after logout: status %d Location %q, want a redirect to /login", r.StatusCode, r.Header.Get("Location"))
		}
		if isSignedIn(t, s, c, "alice") {
			t.Fatal("still signed in after logout")
		}
	})

	t.Run("old_cookie_replayed", func(t *testing.T) {
		a := browser(t)
		a.Jar.SetCookies(issuer, []*http.Cookie{{Name: sessionCookieName, Value: before, Path: "/"}})
		if isSignedIn(t, s, a, "alice") {
			t.Fatal("the session cookie from before logout still works")
		}
	})
}

// (g) a consent decision posted from another origin is refused.
func TestWebSecurityConsentOrigin(t *testing.T) {
	t.Parallel()
	s, clientID, _ := serverWithClient(t)
	c := browser(t)
	_, token, challenge := consentPage(t, s, c, clientID)
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

// waitless replaces the number of seconds in a lockout message ("Try again
// in 42 seconds.") by N.
func waitless(msg string) string {
	return regexp.MustCompile(`in \d+ seconds`).ReplaceAllString(msg, "in N seconds")
}
