package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
)

// authorizeQuery is a code + PKCE authorization request of c for scope,
// with extra parameters set (an empty value deletes the parameter).
func authorizeQuery(c testClient, scope string, extra ...string) (q url.Values, verifier string) {
	verifier, challenge := pkcePair()
	q = url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {flowRedirect}, "scope": {scope},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return q, verifier
}

// approve parses q as the authorization endpoint does and approves it for
// subject; it returns the redirect the client gets.
func approve(t *testing.T, p *Provider, q url.Values, subject string) *url.URL {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
	a, err := p.ParseAuthorize(r)
	if err != nil {
		t.Fatalf("ParseAuthorize(%v): %v", q, err)
	}
	w := httptest.NewRecorder()
	p.WriteGrant(w, r, a, Grant{Subject: subject, Username: subject, AuthTime: time.Now(), Scopes: a.Scopes()})
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusSeeOther {
		t.Fatalf("WriteGrant: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	return loc
}

// idTokenClaims decodes the payload of a JWT (signature not checked).
func idTokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a JWS", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStateOptionalShortNonce (issue 12 item 3): state is optional and has
// no minimum length (RFC 6749 §4.1.1; PKCE carries the CSRF protection,
// RFC 9700 §2.1), and without state the redirect carries no state=
// (RFC 6749 §4.1.2); a short nonce goes through to the id_token (OpenID
// Connect Core sets no minimum). Before the fix fosite's
// MinParameterEntropy (8) refused absent and short state as invalid_state,
// and a short nonce failed only at the token endpoint, after consent.
func TestStateOptionalShortNonce(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{Name: "App"})

	// No state at all: accepted, and no state= in the redirect.
	q, verifier := authorizeQuery(c, "openid", "nonce", "n1")
	loc := approve(t, p, q, "u1")
	if _, ok := loc.Query()["state"]; ok || strings.Contains(loc.RawQuery, "state=") {
		t.Errorf("redirect without state sent carries state: %s", loc)
	}
	if loc.Query().Get("iss") != p.Issuer() || loc.Query().Get("code") == "" {
		t.Errorf("redirect lacks code or iss: %s", loc)
	}
	status, body := exchange(t, p, c, loc.Query().Get("code"), verifier)
	if status != http.StatusOK || str(body, "id_token") == "" {
		t.Fatalf("exchange with nonce n1: %d %v", status, body)
	}
	if got := idTokenClaims(t, str(body, "id_token"))["nonce"]; got != "n1" {
		t.Errorf("id_token nonce = %v, want n1", got)
	}

	// A short state (RFC 6749's own example) is echoed exactly.
	q, _ = authorizeQuery(c, "openid", "state", "xyz")
	if loc := approve(t, p, q, "u1"); loc.Query().Get("state") != "xyz" {
		t.Errorf("state xyz not echoed: %s", loc)
	}

	// PAR accepts the same.
	q, _ = authorizeQuery(c, "openid", "nonce", "n1")
	if status, body, _ := post(t, p.PAR, "/oauth/par", c, q); status != http.StatusCreated {
		t.Errorf("PAR without state, nonce n1: %d %v", status, body)
	}
}

// TestStateNonceTooLongRefused: state and nonce are bounded (512 bytes
// each) and an oversized one is refused with invalid_request when the
// request is parsed — before the login page — at /oauth/authorize and
// /oauth/par; the refusal does not reflect the oversized state.
func TestStateNonceTooLongRefused(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{Name: "App"})
	long := strings.Repeat("s", 513) // one over maxStateBytes and maxNonceBytes
	for _, param := range []string{"state", "nonce"} {
		q, _ := authorizeQuery(c, "openid", param, long)
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
		a, err := p.ParseAuthorize(r)
		if !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("%s of %d bytes: %v, want invalid_request", param, len(long), err)
			continue
		}
		if !a.Redirectable() {
			t.Errorf("%s too long: refusal not redirectable", param)
			continue
		}
		w := httptest.NewRecorder()
		p.WriteAuthorizeError(w, r, a, err)
		if loc := w.Header().Get("Location"); strings.Contains(loc, long) || !strings.Contains(loc, "error=invalid_request") {
			t.Errorf("%s too long: error redirect %q", param, loc)
		}
		if status, body, _ := post(t, p.PAR, "/oauth/par", c, q); status != http.StatusBadRequest || str(body, "error") != "invalid_request" {
			t.Errorf("PAR with %s too long: %d %v", param, status, body)
		}
		// At the limit is fine.
		q.Set(param, long[1:])
		if _, err := p.ParseAuthorize(httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)); err != nil {
			t.Errorf("%s of %d bytes: %v", param, len(long)-1, err)
		}
	}
}

// formPostFields returns the hidden fields of a form_post page.
func formPostFields(t *testing.T, page string) url.Values {
	t.Helper()
	out := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		out.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return out
}

// TestResponseModeHonoured (issue 12 items 1 and 2): response_mode query,
// fragment and form_post are honoured for the code flow, with code, state
// (only when sent) and iss (RFC 9207 §2). Before the fix the client
// adapter did not implement fosite.ResponseModeClient, so every
// response_mode was refused with unsupported_response_mode although
// discovery advertised all three; and fosite's form_post page submitted
// from an inline onload handler our CSP blocks, without iss.
func TestResponseModeHonoured(t *testing.T) {
	p, db := newTestProvider(t)
	c := registerClient(t, p, db, ClientSpec{Name: "App"})

	q, verifier := authorizeQuery(c, "openid", "response_mode", "query", "state", "st")
	loc := approve(t, p, q, "u1")
	if v := loc.Query(); v.Get("code") == "" || v.Get("state") != "st" || v.Get("iss") != p.Issuer() || loc.Fragment != "" {
		t.Errorf("response_mode=query: %s", loc)
	}
	if status, body := exchange(t, p, c, loc.Query().Get("code"), verifier); status != http.StatusOK {
		t.Errorf("query code: %d %v", status, body)
	}

	for _, state := range []string{"st", ""} {
		q, verifier = authorizeQuery(c, "openid", "response_mode", "fragment", "state", state)
		loc = approve(t, p, q, "u1")
		f, err := url.ParseQuery(loc.Fragment)
		if err != nil || loc.RawQuery != "" || f.Get("code") == "" || f.Get("iss") != p.Issuer() {
			t.Errorf("response_mode=fragment: %s", loc)
		}
		if _, ok := f["state"]; f.Get("state") != state || (state == "" && ok) {
			t.Errorf("response_mode=fragment, state %q: %s", state, loc)
		}
		if status, body := exchange(t, p, c, f.Get("code"), verifier); status != http.StatusOK {
			t.Errorf("fragment code: %d %v", status, body)
		}
	}

	// form_post: our page, no inline script, a visible button, iss.
	for _, state := range []string{"st", ""} {
		q, verifier = authorizeQuery(c, "openid", "response_mode", "form_post", "state", state)
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil)
		a, err := p.ParseAuthorize(r)
		if err != nil {
			t.Fatalf("response_mode=form_post: %v", err)
		}
		w := httptest.NewRecorder()
		p.WriteGrant(w, r, a, Grant{Subject: "u1", Username: "u1", AuthTime: time.Now(), Scopes: a.Scopes()})
		page := w.Body.String()
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("form_post: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), page)
		}
		if !strings.Contains(page, `<form method="post" action="`+flowRedirect+`"`) || !strings.Contains(page, `<script src="/static/form_post.js"`) ||
			strings.Contains(page, "onload") || !strings.Contains(page, `<button type="submit"`) {
			t.Errorf("form_post page:\n%s", page)
		}
		fields := formPostFields(t, page)
		if _, ok := fields["state"]; fields.Get("code") == "" || fields.Get("iss") != p.Issuer() || fields.Get("state") != state || (state == "" && ok) {
			t.Errorf("form_post fields (state %q): %v", state, fields)
		}
		if status, body := exchange(t, p, c, fields.Get("code"), verifier); status != http.StatusOK {
			t.Errorf("form_post code: %d %v", status, body)
		}
		// An error in form_post mode is posted the same way, with iss.
		w = httptest.NewRecorder()
		p.WriteAuthorizeError(w, r, a, ErrAccessDenied)
		if f := formPostFields(t, w.Body.String()); f.Get("error") != "access_denied" || f.Get("iss") != p.Issuer() || f.Get("state") != state {
			t.Errorf("form_post error fields: %v\n%s", f, w.Body.String())
		}
	}

	if _, err := p.ParseAuthorize(httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+func() string {
		q, _ := authorizeQuery(c, "openid", "response_mode", "jwt")
		return q.Encode()
	}(), nil)); !errors.Is(err, fosite.ErrUnsupportedResponseMode) {
		t.Errorf("response_mode=jwt: %v, want unsupported_response_mode", err)
	}
}
