package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignupValidate(t *testing.T) {
	const good = "correct-battery-staple-horse"
	tests := []struct {
		name                      string
		form                      signupForm
		username, email, password string // substrings expected in each field's error; "" = no error
	}{
		{name: "valid", form: signupForm{"alice", "alice@example.com", good}},
		{name: "valid with dots and digits", form: signupForm{"a.b-c_9", "a+tag@mail.example.org", good}},
		{name: "all empty", form: signupForm{}, username: "Choose a username", email: "Enter your email", password: "Choose a password"},
		{name: "username too short", form: signupForm{"al", "a@example.com", good}, username: "3–32 characters"},
		{name: "username uppercase", form: signupForm{"Alice", "a@example.com", good}, username: "lowercase"},
		{name: "username starts with dot", form: signupForm{".alice", "a@example.com", good}, username: "Start with a letter"},
		{name: "username with space", form: signupForm{"al ice", "a@example.com", good}, username: "only lowercase letters, digits"},
		{name: "username with unicode", form: signupForm{"álice", "a@example.com", good}, username: "only lowercase letters, digits"},
		{name: "username too long", form: signupForm{strings.Repeat("a", 33), "a@example.com", good}, username: "3–32 characters"},
		{name: "email without at", form: signupForm{"alice", "alice.example.com", good}, email: "like name@example.com"},
		{name: "email with display name", form: signupForm{"alice", "Alice <alice@example.com>", good}, email: "like name@example.com"},
		{name: "email without dot in domain", form: signupForm{"alice", "alice@localhost", good}, email: "like name@example.com"},
		{name: "email too long", form: signupForm{"alice", strings.Repeat("a", 250) + "@example.com", good}, email: "too long"},
		{name: "password short", form: signupForm{"alice", "a@example.com", "short-pass1"}, password: "at least 12"},
		{name: "password eleven runes", form: signupForm{"alice", "a@example.com", "ééééé-ééééé"}, password: "at least 12"},
		{name: "password equals username", form: signupForm{"alice.wonderland", "a@example.com", "Alice.Wonderland"}, password: "username"},
		{name: "password is username plus digits", form: signupForm{"alicewonder", "a@example.com", "alicewonder1"}, password: "username"},
		{name: "password too long", form: signupForm{"alice", "a@example.com", strings.Repeat("x1y2", 257)}, password: "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.form.validate()
			for _, f := range []struct{ field, got, want string }{
				{"username", e.Username, tc.username}, {"email", e.Email, tc.email}, {"password", e.Password, tc.password},
			} {
				if (f.want == "") != (f.got == "") || !strings.Contains(f.got, f.want) {
					t.Errorf("%s error = %q, want one containing %q", f.field, f.got, f.want)
				}
			}
			if e.any() != (tc.username != "" || tc.email != "" || tc.password != "") {
				t.Errorf("any() = %v", e.any())
			}
		})
	}
}

func TestPasswordProblemCommon(t *testing.T) {
	common := []string{
		"password1234", "Password123456", "passwordpassword", "P@ssw0rd2024!", "qwertyuiop123", "QWERTY123456",
		"123456789012", "1234567890123", "987654321098", "abcdefghijkl", "aaaaaaaaaaaa", "abababababab",
		"121212121212", "123412341234", "qwerqwerqwer", "letmein12345", "iloveyou2024", "1q2w3e4r5t6y",
		"welcome123!!", "latchkey2025", "!!!!password", "correcthorsebatterystaple",
	}
	for _, p := range common {
		t.Run(p, func(t *testing.T) {
			if got := passwordProblem(p, "someone"); !strings.Contains(got, "too common") {
				t.Fatalf("passwordProblem(%q) = %q, want too common", p, got)
			}
		})
	}
	fine := []string{
		"correct-battery-staple-horse", "mypassword2024x", "tangerine otter lamp", "Vx9#kq2!Lm0z", "839201746352",
		"alice-in-a-long-sentence",
	}
	for _, p := range fine {
		t.Run(p, func(t *testing.T) {
			if got := passwordProblem(p, "alice"); got != "" {
				t.Fatalf("passwordProblem(%q) = %q, want accepted", p, got)
			}
		})
	}
}

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
	for _, want := range []string{"<code>u-1</code>", "carol@example.com", "carol&#39;s workspace", "Role: owner", "<time datetime="} {
		if !strings.Contains(body, want) {
			t.Errorf("/account lacks %q", want)
		}
	}
}
