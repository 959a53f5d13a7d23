package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// TestKnownDeviceLogsInWhileUsernameUnderAttack (finding 7): after ten
// failed guesses from one address, that address and the username are
// blocked for untrusted clients — the guesser's right password too — but
// the owner's browser, holding the device cookie of an earlier sign-in,
// signs in with the right password; its own failures are throttled per
// device cookie, and the refusal says how long to wait, in the seconds of
// Retry-After ("Try again in 42 seconds", not "1 minute" for any wait).
// Before the fix the owner got 429 like everyone else.
func TestKnownDeviceLogsInWhileUsernameUnderAttack(t *testing.T) {
	f := newSecFixture(t, nil)
	owner := f.browser(t)
	if resp, _ := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	dev := f.cookie(t, owner, "latchkey_device")
	if dev == nil {
		t.Fatal("no device cookie after a successful login")
	}
	if resp, _ := f.post(t, owner, "/logout", url.Values{"csrf_token": {f.token(t, owner)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("logout failed")
	}

	attacker := f.browser(t)
	for i := range 10 {
		if resp, body := f.login(t, attacker, "alice", fmt.Sprintf("guess-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
	f.now.Add(18 * time.Second) // the lockout runs a minute from the first guess
	resp, body := f.login(t, attacker, "alice", secPassword)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the guesser's right password: %d, want 429", resp.StatusCode)
	}
	if !strings.Contains(body, "Try again in 42 seconds.") || resp.Header.Get("Retry-After") != "42" {
		t.Errorf("the refusal does not say how long to wait: Retry-After %q\n%s", resp.Header.Get("Retry-After"), body)
	}
	// Another untrusted browser (same address, as behind one load balancer).
	if resp, _ := f.login(t, f.browser(t), "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an unknown browser's right password while the username is locked: %d, want 429", resp.StatusCode)
	}

	// The owner, from the same address, on the known browser.
	if resp, body := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner's right password on a known device: %d, want 303\n%s", resp.StatusCode, body)
	}
	if renewed := f.cookie(t, owner, "latchkey_device"); renewed == nil || renewed.Value == dev.Value {
		t.Error("the device cookie was not renewed on sign-in")
	}
	// The device cookie is bound to its username.
	hash, _ := secret.HashPassword("bobs-password-123")
	_ = f.store.CreateUser(context.Background(), &storage.User{ID: "u-bob", Username: "bob", PasswordHash: hash, CreatedAt: time.Now()})
	if resp, _ := f.login(t, owner, "bob", "bobs-password-123"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's device cookie let bob's sign-in past the blocked address: %d", resp.StatusCode)
	}
	// A forged device cookie is an untrusted client.
	forged := f.browser(t)
	u, _ := url.Parse(f.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_device", Value: dev.Value + "x", Path: "/"}})
	if resp, _ := f.login(t, forged, "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a forged device cookie passed the lockout: %d", resp.StatusCode)
	}

	// Guessing on the known device is throttled per device cookie.
	for i := range 10 {
		if resp, _ := f.login(t, owner, "alice", fmt.Sprintf("typo-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("typo %d on the known device: %d", i, resp.StatusCode)
		}
	}
	if resp, body := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
		t.Fatalf("after ten failures on the known device: %d, want 429 with the wait", resp.StatusCode)
	}
}

// TestFailedLoginLoggedAsSecurityEvent: a failed sign-in is one warn line
// with event=login_failed, the username and the client IP, and never the
// password.
func TestFailedLoginLoggedAsSecurityEvent(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	wrong := "Wrong-Password-Do-Not-Log-42"
	if resp, _ := f.login(t, c, "alice", wrong); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	logs := f.logs.String()
	if strings.Contains(logs, wrong) {
		t.Fatalf("the log contains the password:\n%s", logs)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["event"] != "login_failed" {
			continue
		}
		found = true
		if rec["level"] != "WARN" || rec["username"] != "alice" || rec["client_ip"] != "127.0.0.1" || rec["known_device"] != false {
			t.Errorf("security event %v", rec)
		}
	}
	if !found {
		t.Fatalf("no event=login_failed line:\n%s", logs)
	}
}

// TestLoginRotatesCSRFToken: signing in issues a new session id and
// drops the CSRF token, so a token obtained before the sign-in (say, by
// an attacker who planted it for a login CSRF) no longer validates.
func TestLoginRotatesCSRFToken(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	before := f.token(t, c)
	resp, body := f.post(t, c, "/login", url.Values{"username": {"alice"}, "password": {secPassword}, "csrf_token": {before}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	var dropped bool
	for _, ck := range resp.Cookies() {
		if ck.Name == f.h.csrfName && ck.MaxAge < 0 {
			dropped = true
		}
	}
	if !dropped {
		t.Fatal("login did not drop the CSRF cookie")
	}
	if resp, _ := f.post(t, c, "/logout", url.Values{"csrf_token": {before}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the pre-login CSRF token still works after login: %d", resp.StatusCode)
	}
	after := f.token(t, c)
	if after == "" || after == before {
		t.Fatal("no new CSRF token after login")
	}
	if resp, _ := f.post(t, c, "/logout", url.Values{"csrf_token": {after}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new token is refused: %d", resp.StatusCode)
	}
}

// TestLoginIssuesNewSessionID: each sign-in stores a new random session
// id, whatever session the browser brought.
func TestLoginIssuesNewSessionID(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	sid := func() string {
		s, err := f.h.sessions.Get(requestWith(f.cookie(t, c, f.h.SessionCookie())), f.h.sessionName)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := s.Values["sid"].(string)
		return v
	}
	seen := map[string]bool{}
	for i := range 3 {
		if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %d: %d", i, resp.StatusCode)
		}
		id := sid()
		if len(id) < 32 || seen[id] {
			t.Fatalf("login %d: session id %q reused or short", i, id)
		}
		seen[id] = true
	}
}

// TestHostPrefixedCookiesOnHTTPS: with an https issuer the session, CSRF
// and device cookies are __Host- cookies (Secure, Path=/, no Domain);
// on http, where browsers refuse the prefix, the plain names stay.
func TestHostPrefixedCookiesOnHTTPS(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		prefix string
	}{{true, "__Host-"}, {false, ""}} {
		t.Run(fmt.Sprintf("secure=%v", tc.secure), func(t *testing.T) {
			h, store, _, _ := newSecHandler(t, tc.secure, nil)
			hash, _ := secret.HashPassword(secPassword)
			_ = store.CreateUser(context.Background(), &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash, CreatedAt: time.Now()})
			if got := h.SessionCookie(); got != tc.prefix+"latchkey_session" {
				t.Errorf("SessionCookie() = %q", got)
			}
			gin.SetMode(gin.ReleaseMode)
			e := gin.New()
			e.GET("/login", h.CSRF(), h.LoginForm)
			e.POST("/login", h.Login) // the cookies a sign-in sets
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
			form := url.Values{"username": {"alice"}, "password": {secPassword}}
			req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec2 := httptest.NewRecorder()
			e.ServeHTTP(rec2, req)
			if rec2.Code != http.StatusSeeOther {
				t.Fatalf("login: %d", rec2.Code)
			}
			got := map[string]*http.Cookie{}
			for _, ck := range append(rec.Result().Cookies(), rec2.Result().Cookies()...) {
				got[ck.Name] = ck
			}
			for _, name := range []string{"latchkey_session", "latchkey_csrf", "latchkey_device"} {
				ck := got[tc.prefix+name]
				if ck == nil {
					t.Errorf("no %s cookie; got %v", tc.prefix+name, got)
					continue
				}
				if ck.Secure != tc.secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
					t.Errorf("%s: Secure %v Path %q Domain %q HttpOnly %v", ck.Name, ck.Secure, ck.Path, ck.Domain, ck.HttpOnly)
				}
			}
		})
	}
}

// TestDeviceCookieBoundToExactUsername: usernames are case-sensitive in
// the store (`latchkey user create --username Bob` beside a self-service
// "bob"), so a device cookie names its username exactly. Before the fix
// the cookie compared lower-cased, so the owner of "bob" — who gets a
// fresh device cookie at every sign-in — guessed Bob's password as a
// "known device", throttled only per cookie and never counted against
// the username or the address: unlimited guesses from one IP.
func TestDeviceCookieBoundToExactUsername(t *testing.T) {
	f := newSecFixture(t, nil)
	for _, u := range []struct{ id, name, pw string }{{"u-bob", "bob", "bobs-password-123"}, {"u-Bob", "Bob", "Bobs-password-456"}} {
		hash, _ := secret.HashPassword(u.pw)
		if err := f.store.CreateUser(context.Background(), &storage.User{ID: u.id, Username: u.name, PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	attacker := f.browser(t)
	if resp, _ := f.login(t, attacker, "bob", "bobs-password-123"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("attacker's own login: %d", resp.StatusCode)
	}
	for i := range 10 {
		if resp, _ := f.login(t, attacker, "Bob", fmt.Sprintf("guess-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	// The guesses were an untrusted client's: the username (and the
	// address) are now blocked for any untrusted browser.
	if resp, _ := f.login(t, f.browser(t), "Bob", "Bobs-password-456"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after ten guesses with bob's device cookie, an untrusted login to Bob: %d, want 429 (the guesses bypassed the username limit)", resp.StatusCode)
	}
}

// TestFailedLoginNeverLogsUnknownUsername: people type their password
// into the username field; a failed sign-in for a username nobody has
// logs a fingerprint of what was typed, never the text, so the warn line
// (and the throttled line after it) cannot carry a password. Before the
// fix the typed text was logged as "username" at warn.
func TestFailedLoginNeverLogsUnknownUsername(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	typed := secPassword // the password, typed into the username field
	for range 11 {
		f.login(t, c, typed, "whatever-was-typed-next")
	}
	logs := f.logs.String()
	if strings.Contains(logs, typed) {
		t.Fatalf("the log contains what was typed as the username:\n%s", logs)
	}
	var failed, throttled bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["event"] {
		case "login_failed":
			failed = true
		case "login_throttled":
			throttled = true
		default:
			continue
		}
		if u, _ := rec["username"].(string); !strings.HasPrefix(u, "unknown:") {
			t.Errorf("username of an unknown user logged as %q", u)
		}
	}
	if !failed || !throttled {
		t.Fatalf("missing events (failed %v, throttled %v):\n%s", failed, throttled, logs)
	}
	// A real username is still logged as typed.
	f.login(t, f.browser(t), "alice", "not-alices-password")
	if !strings.Contains(f.logs.String(), `"username":"alice"`) {
		t.Errorf("a known username is no longer logged:\n%s", f.logs.String())
	}
}

func TestWaitText(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		0: "1 second", 300 * time.Millisecond: "1 second", time.Second: "1 second", 1100 * time.Millisecond: "2 seconds",
		42 * time.Second: "42 seconds", 41*time.Second + time.Millisecond: "42 seconds", time.Minute: "60 seconds",
		119 * time.Second: "119 seconds", 2 * time.Minute: "2 minutes", 2*time.Minute + time.Second: "3 minutes",
	} {
		if got := waitText(wait); got != want {
			t.Errorf("waitText(%v) = %q, want %q", wait, got, want)
		}
	}
}
