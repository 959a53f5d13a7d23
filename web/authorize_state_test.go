package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// TestStateOptionalAtAuthorize (issue 12 item 3): at /oauth/authorize a
// request without state, or with a short state or nonce, goes on to the
// login page; an oversized state or nonce is refused with invalid_request
// at the redirect URI before the login page; and a signed-in person's
// redirect for a request without state carries no state= (RFC 6749
// §4.1.2). Before the fix fosite refused absent and short state with
// invalid_state.
func TestStateOptionalAtAuthorize(t *testing.T) {
	f := newAuthorizeFixture(t)
	id := f.client(t, oauth.ClientSpec{Name: "App"})
	anon := f.anon(t)
	for _, extra := range [][]string{{"state", ""}, {"state", "xyz"}, {"state", "", "nonce", "n1"}} {
		resp, _ := f.do(t, anon, http.MethodGet, authorizePath(id, extra...), nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
			t.Errorf("%v: %d %q, want the login page", extra, resp.StatusCode, loc)
		}
	}
	long := strings.Repeat("x", 513)
	for _, param := range []string{"state", "nonce"} {
		resp, body := f.do(t, anon, http.MethodGet, authorizePath(id, param, long), nil)
		if q := redirectQuery(t, resp, body); q.Get("error") != "invalid_request" || q.Get("state") == long {
			t.Errorf("%s of 513 bytes: %v, want invalid_request before the login page", param, q)
		}
	}

	c := f.signIn(t, "u-ann", "ann")
	if err := f.db.SaveConsent(t.Context(), &storage.Consent{UserID: "u-ann", ClientID: id, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, c, http.MethodGet, authorizePath(id, "state", ""), nil)
	q := redirectQuery(t, resp, body)
	if _, ok := q["state"]; ok || q.Get("code") == "" || q.Get("iss") != "https://issuer.example" {
		t.Errorf("no state sent: redirect %v, want code and iss and no state", q)
	}
}

// TestFormPostResponseModeAtAuthorize (issue 12 items 1 and 2): a
// signed-in person with remembered consent asking with
// response_mode=form_post gets the page that posts code, state and iss to
// the client, submitted by /static/form_post.js (served here) rather than
// an inline handler the CSP blocks; query and fragment redirect. Before the
// fix every response_mode was refused with unsupported_response_mode.
func TestFormPostResponseModeAtAuthorize(t *testing.T) {
	f := newAuthorizeFixture(t)
	id := f.client(t, oauth.ClientSpec{Name: "App"})
	c := f.signIn(t, "u-ann", "ann")
	if err := f.db.SaveConsent(t.Context(), &storage.Consent{UserID: "u-ann", ClientID: id, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, c, http.MethodGet, authorizePath(id, "response_mode", "form_post"), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post" action="`+authzRedirect+`"`) ||
		!strings.Contains(body, `<script src="/static/form_post.js"`) || strings.Contains(body, "onload") ||
		!strings.Contains(body, `name="code"`) || !strings.Contains(body, `name="state" value="state-123456789"`) ||
		!strings.Contains(body, `name="iss" value="https://issuer.example"`) {
		t.Fatalf("response_mode=form_post: %d\n%s", resp.StatusCode, body)
	}
	resp, body = f.do(t, c, http.MethodGet, authorizePath(id, "response_mode", "query"), nil)
	if q := redirectQuery(t, resp, body); q.Get("code") == "" || q.Get("state") != "state-123456789" {
		t.Errorf("response_mode=query: %v", q)
	}
	resp, _ = f.do(t, c, http.MethodGet, authorizePath(id, "response_mode", "fragment"), nil)
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, authzRedirect+"#") || !strings.Contains(loc, "code=") || !strings.Contains(loc, "iss=") {
		t.Errorf("response_mode=fragment: %d %q", resp.StatusCode, loc)
	}

	rec := httptest.NewRecorder()
	f.h.Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/form_post.js", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `getElementById("form-post")`) {
		t.Errorf("/static/form_post.js: %d\n%s", rec.Code, rec.Body.String())
	}
}
