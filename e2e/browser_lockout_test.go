package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/flowtest"
)

// TestBrowserKnownDeviceGetsPastLockout: against the server as `latchkey
// serve` wires it, ten wrong passwords for a username lock out every
// browser that never signed in as it — the stranger's right password too,
// with a message saying how many seconds to wait, matching Retry-After —
// while the owner's Chromium, which signed in before and holds its device
// cookie (SameSite=Strict, HttpOnly), still signs in with the right
// password from the same address.
func TestBrowserKnownDeviceGetsPastLockout(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	const password = "otis-long-password-2026"
	s.CreateUser(t, "otis", password)
	b := newChrome(t, s.URL, browserTimeout)
	signIn := func() int64 {
		b.open("/login")
		b.fill("#username", "otis", "#password", password)
		return b.click(`form[action="/login"] button[type="submit"]`).Status
	}
	signIn()
	b.wantText(".session-user", "otis")
	b.click(`form[action="/logout"] button`)
	b.wantAt("/login")

	stranger := browser(t)
	try := func(pw string) (*http.Response, string) {
		_, page := get(t, stranger, s.URL+"/login")
		return postForm(t, stranger, s.URL+"/login", url.Values{
			"csrf_token": {formValue(t, csrfRe, page)}, "username": {"otis"}, "password": {pw}, "next": {"/"},
		}, s.URL)
	}
	for i := range 10 {
		if resp, _ := try(fmt.Sprintf("wrong-guess-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	resp, page := try(password)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 60 {
		t.Fatalf("the stranger's right password: %d Retry-After %q, want 429 within a minute", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(flowtest.HTMLUnescape(page), fmt.Sprintf("Try again in %d seconds.", secs)) {
		t.Fatalf("the refusal does not say the seconds of Retry-After (%d):\n%s", secs, page)
	}

	// The owner's browser: a known device.
	if st := signIn(); st != http.StatusOK {
		t.Fatalf("the owner's known browser during the lockout: status %d", st)
	}
	b.wantAt("/")
	b.wantText(".session-user", "otis")
	b.checkConsole()
}
