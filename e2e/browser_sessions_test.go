package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserSessionsSignOut (issue 13): two Chromium processes, each its
// own profile, signed in as the same person. From the first, /account
// lists both sessions with "this browser" on its own and a Sign out
// button on the other only; signing the other out there ends it on the
// server: the second browser's next page load lands on /login, and its
// copied session cookie gets 401 from the cookie-authenticated API. The
// first browser stays signed in. Both pages are shot at phone and desktop
// widths and audited with axe-core.
func TestBrowserSessionsSignOut(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	const password = "sessions-password-2026"
	s.CreateUser(t, "sam", password)

	first := newChrome(t, s.URL, browserTimeout)
	second := newChrome(t, s.URL, browserTimeout)
	for _, b := range []*chrome{second, first} {
		b.open("/login?next=/account")
		b.fill("#username", "sam", "#password", password)
		b.click(`form[action="/login"] button[type="submit"]`)
		b.wantAt("/account")
	}
	secondCookie := sessionCookie(t, second)
	if st := cookieStatus(t, s.URL+"/v1/users/me", secondCookie); st != http.StatusOK {
		t.Fatalf("before: API with the second browser's cookie = %d, want 200", st)
	}
	if sessionCookie(t, first).Value == secondCookie.Value {
		t.Fatal("both browsers hold the same session cookie")
	}

	// The session list, seen from the first browser.
	const rows = `li.list-item:has(form[action="/account/sessions/end"]), li.list-item:has(.status-active)`
	first.open("/account")
	first.wantText("main", "Where you are signed in")
	if n := first.count(rows); n != 2 {
		t.Fatalf("%d sessions listed, want 2", n)
	}
	if n := first.count(`li.list-item:has(.status-active):not(:has(form))`); n != 1 {
		t.Errorf("%d rows marked this browser without a sign-out button, want 1", n)
	}
	if n := first.count(`form[action="/account/sessions/end"]`); n != 1 {
		t.Fatalf("%d sign-out buttons, want 1 (the other browser's)", n)
	}
	first.wantText(`li.list-item:has(.status-active):not(:has(form))`, "this browser")
	first.shoot("first-account-sessions")

	first.click(`form[action="/account/sessions/end"] button[type="submit"]`)
	first.wantAt("/account")
	first.wantText(".flash", "That session is signed out.")
	if n := first.count(rows); n != 1 {
		t.Errorf("after signing the other out: %d sessions listed, want 1", n)
	}
	if n := first.count(`form[action="/account/sessions/end"]`); n != 0 {
		t.Errorf("after signing the other out: %d sign-out buttons, want 0", n)
	}
	first.shoot("first-account-signed-out-other")

	// The second browser's next page load asks it to sign in.
	second.open("/account")
	second.wantAt("/login")
	second.shoot("second-login-after-sign-out")
	if st := cookieStatus(t, s.URL+"/v1/users/me", secondCookie); st != http.StatusUnauthorized {
		t.Errorf("after: API with the second browser's copied cookie = %d, want 401", st)
	}
	if st := cookieStatus(t, s.URL+"/account", secondCookie); st != http.StatusSeeOther {
		t.Errorf("after: /account with the second browser's copied cookie = %d, want 303 to sign in", st)
	}

	// The first browser is still signed in.
	first.open("/keys")
	first.wantAt("/keys")
	if !strings.Contains(first.text("header"), "sam") {
		t.Errorf("first browser's header after the sign-out: %q, want still signed in as sam", first.text("header"))
	}
	first.checkConsole()
	second.checkConsole()
}
