package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserErrorPages: the landing page, the sign-in page and /docs/api
// are screenshot and audited; in Chromium, an unknown path and an authorization
// request from an unknown app show the error page in the site layout, the
// signed-in person in the header, a sentence for people, and the
// technical detail folded away until asked for; nothing overflows a phone.
func TestBrowserErrorPages(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	const password = "nell-long-password-2026"
	s.CreateUser(t, "nell", password)
	b := newChrome(t, s.URL, browserTimeout)
	b.open("/")
	b.wantText("main", "Sign in", "Create an account")
	b.shoot("landing")
	b.open("/login")
	b.shoot("login-plain")
	b.fill("#username", "nell", "#password", "not-the-password-2026")
	if resp := b.click(`form[action="/login"] button[type="submit"]`); resp.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.Status)
	}
	b.wantText("#password-error", "not right")
	b.shoot("login-error")
	b.fill("#username", "nell", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)

	if st := b.open("/no-such-page"); st != http.StatusNotFound {
		t.Fatalf("unknown page: %d", st)
	}
	b.wantText("#error-heading", "We couldn’t find that page")
	b.wantText(".session-user", "nell")
	if b.count(".error-details[open]") != 0 {
		t.Fatal("technical details are not folded away")
	}
	b.shoot("error-404")

	if st := b.open("/oauth/authorize?response_type=code&client_id=no-such-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid"); st != http.StatusBadRequest {
		t.Fatalf("unknown app: %d", st)
	}
	b.wantText(".error-desc", "not registered with Latchkey")
	b.wantText(".session-user", "nell")
	if got := b.text("main"); strings.Contains(got, "Client authentication failed") || strings.Contains(got, "invalid_client") {
		t.Fatalf("library text shown before the details are opened: %q", got)
	}
	b.press(".error-details summary")
	b.wantText(".error-details", "invalid_client")
	b.shoot("error-authorize")

	if st := b.open("/docs/api"); st != http.StatusOK {
		t.Fatalf("/docs/api: %d", st)
	}
	b.shoot("api-docs")
	b.checkConsole()
}
