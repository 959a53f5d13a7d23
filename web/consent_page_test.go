package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

var resumeRe = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestConsentShowsWhoAndWhere: the consent page names the app's homepage,
// the host the answer goes to and the person who registered the app, and
// "Not you? Switch account" signs out and returns, through the login page
// that names the app, to the same request.
func TestConsentShowsWhoAndWhere(t *testing.T) {
	f := newAuthorizeFixture(t)
	if err := f.db.CreateUser(t.Context(), &storage.User{ID: "u-carol", Username: "carol"}); err != nil {
		t.Fatal(err)
	}
	id := f.client(t, oauth.ClientSpec{Name: "Photo Printer", OwnerID: "u-carol", ClientURI: "https://photos.example/"})
	c := f.signIn(t, "u-dana", "dana")
	path := authorizePath(id)

	resp, body := f.do(t, c, http.MethodGet, path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`Homepage <a href="https://photos.example/"`, "Sends you back to <strong>app.example</strong>",
		"Registered by <strong>carol</strong>", "Not you? Switch account",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	m := resumeRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no switch-account form:\n%s", body)
	}
	next := html.UnescapeString(m[1])
	if u, err := url.Parse(next); err != nil || u.Path != "/oauth/authorize" || u.Query().Get("client_id") != id {
		t.Fatalf("switch account next = %q", next)
	}

	resp, _ = f.do(t, c, http.MethodPost, "/logout", url.Values{"next": {next}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(next) {
		t.Fatalf("switch account: %d to %q", resp.StatusCode, loc)
	}
	resp, body = f.follow(t, c, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `Sign in to continue to <span class="client-name">Photo Printer</span>`) {
		t.Fatalf("login after switch: %d\n%s", resp.StatusCode, body)
	}
	// Signed out: the request sends the browser to sign in again.
	if resp, _ := f.do(t, c, http.MethodGet, next, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("still signed in after switching: %d", resp.StatusCode)
	}
	// A failed sign-in keeps naming the app.
	_, body = f.do(t, c, http.MethodPost, "/login", url.Values{"username": {"dana"}, "password": {"wrong password here"}, "next": {next}})
	if !strings.Contains(body, "Sign in to continue to") {
		t.Error("failed sign-in page does not name the app")
	}
	// An app registered by the operator, and an outside next: no app named.
	op := f.client(t, oauth.ClientSpec{Name: "Operator App"})
	c = f.signIn(t, "u-erin", "erin")
	_, body = f.do(t, c, http.MethodGet, authorizePath(op), nil)
	if !strings.Contains(body, "Registered by this Latchkey’s operator") || strings.Contains(body, "Homepage") {
		t.Error("operator app: owner or homepage shown wrongly")
	}
	for _, n := range []string{"/keys", "https://evil.example/oauth/authorize?client_id=" + id, "/oauth/authorize?client_id=nope"} {
		_, body = f.do(t, f.anon(t), http.MethodGet, "/login?next="+url.QueryEscape(n), nil)
		if !strings.Contains(body, "Sign in to Latchkey</h1>") {
			t.Errorf("login?next=%s names an app", n)
		}
	}
	// Sign-out without next goes to the plain login page.
	resp, _ = f.do(t, c, http.MethodPost, "/logout", url.Values{"next": {"https://evil.example/"}})
	if loc := resp.Header.Get("Location"); loc != "/login" {
		t.Errorf("logout with outside next went to %q", loc)
	}
}
