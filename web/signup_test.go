package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignupFlow(t *testing.T) {
	f := newPagesFixture(t)
	c := f.anon(t)

	resp, body := f.do(t, c, http.MethodGet, "/signup?next=//evil.example/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="next" value="/"`) {
		t.Fatalf("GET /signup: %d, next not reset to /:\n%s", resp.StatusCode, body)
	}

	// Field errors are shown next to each field and the values kept (never the password).
	resp, body = f.do(t, c, http.MethodPost, "/signup", url.Values{"username": {"Bob"}, "email": {"bob"}, "password": {"password1234"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad sign-up: status %d", resp.StatusCode)
	}
	for _, want := range []string{`id="username-error"`, `id="email-error"`, `id="password-error">That password is too common`, `value="Bob"`, `value="bob"`} {
		if !strings.Contains(body, want) {
			t.Errorf("bad sign-up page lacks %q", want)
		}
	}
	if strings.Contains(body, "password1234") {
		t.Error("the page echoes the password")
	}

	// Success: the user exists, is signed in and lands on next with a flash.
	form := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password": {"tangerine otter lamp"}, "next": {"/account"}}
	resp, _ = f.do(t, c, http.MethodPost, "/signup", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("sign-up: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	u, err := f.store.GetUserByUsername(context.Background(), "bob")
	if err != nil || u.Email != "bob@example.com" || u.PasswordHash == "" || strings.Contains(u.PasswordHash, "tangerine") {
		t.Fatalf("stored user %+v, %v", u, err)
	}
	resp, body = f.follow(t, c, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Welcome to Latchkey, bob") || !strings.Contains(body, u.ID) {
		t.Fatalf("after sign-up: %d\n%s", resp.StatusCode, body)
	}

	// The same username again is refused next to the username field.
	c2 := f.anon(t)
	form.Set("email", "other@example.com")
	resp, body = f.do(t, c2, http.MethodPost, "/signup", form)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="username-error">That username is taken`) {
		t.Fatalf("duplicate: %d\n%s", resp.StatusCode, body)
	}

	// Signed in, /signup sends the person on.
	resp, _ = f.do(t, c, http.MethodGet, "/signup", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("signed-in GET /signup: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAccountPage(t *testing.T) {
	f := newPagesFixture(t)
	resp, _ := f.do(t, f.anon(t), http.MethodGet, "/account", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("anonymous /account: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := f.user(t, "u-1", "carol")
	resp, body := f.do(t, c, http.MethodGet, "/account", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/account: %d", resp.StatusCode)
	}
	for _, want := range []string{"<code>u-1</code>", "carol@example.com", "carol&#39;s workspace", "Personal workspace · role: owner", "<time datetime="} {
		if !strings.Contains(body, want) {
			t.Errorf("/account lacks %q", want)
		}
	}
}
