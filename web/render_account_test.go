package web

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func TestRenderAccountForms(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	u := &storage.User{ID: "usr_123", Username: "alice", Email: "a@example.com", Name: "Alice", CreatedAt: at, EmailVerifiedAt: &at}
	page := newAccountPage(u)
	out := renderPage(t, "account", "account-verified", pageData{Title: "Account", User: testUserValue, Page: page})
	mustContain(t, "account", out, `<span class="status status-active">verified</span>`, `action="/account/profile"`, `action="/account/password"`,
		`name="name" type="text" value="Alice"`, `name="email" type="email" value="a@example.com"`,
		`autocomplete="current-password"`, `autocomplete="new-password"`)
	mustNotContain(t, "account", out, `action="/account/verify-email"`, "not verified", "field-error")

	page.Sessions = []sessionRow{
		{SID: "sid-1", Created: pgWhen, UserAgent: "Firefox <1>", IP: "192.0.2.1", Current: true},
		{SID: "sid-2", Created: pgWhen, IP: "192.0.2.2"},
	}
	out = renderPage(t, "account", "account-sessions", pageData{Title: "Account", User: testUserValue, Page: page})
	mustContain(t, "account", out, "Firefox &lt;1&gt; <span class=\"status status-active\">this browser</span>", "from 192.0.2.1",
		"Unknown browser", `action="/account/sessions/end"`, `name="sid" value="sid-2"`)
	mustNotContain(t, "account", out, `value="sid-1"`)
	page.Sessions = nil

	page.Profile = profileForm{Name: "A<b>", Email: "bad@"}
	page.ProfileErrors = profileErrors{Email: "Enter an email address like name@example.com."}
	page.PasswordErrors = passwordErrors{Current: "That is not your current password.", New: "Use at least 12 characters."}
	out = renderPage(t, "account", "account-errors", pageData{Title: "Account", User: testUserValue, Page: page})
	mustContain(t, "account", out, `value="A&lt;b&gt;"`, `value="bad@"`,
		`aria-describedby="email-hint email-error"`, `id="email-error">Enter an email address like name@example.com.</p>`,
		`aria-describedby="current_password-error"`, `id="current_password-error">That is not your current password.</p>`,
		`aria-describedby="new_password-hint new_password-error"`, `id="new_password-error">Use at least 12 characters.</p>`)
	if n := strings.Count(out, `aria-invalid="true"`); n != 3 {
		t.Errorf("account: %d invalid fields marked, want 3", n)
	}
}

func TestRenderForgot(t *testing.T) {
	out := renderPage(t, "forgot", "forgot", pageData{Title: "Reset your password", Page: forgotPage{}})
	mustContain(t, "forgot", out, `action="/forgot-password"`, `<label for="who">`, `name="who"`, `href="/login"`)
	out = renderPage(t, "forgot", "forgot-sent", pageData{Title: "Reset your password", Page: forgotPage{Who: "a<b>", Sent: true, Expires: "30 minutes"}})
	mustContain(t, "forgot", out, "If an account matches <strong>a&lt;b&gt;</strong>", "expires in 30 minutes")
	mustNotContain(t, "forgot", out, "<form method=\"post\" action=\"/forgot-password\"")
	out = renderPage(t, "forgot", "forgot-error", pageData{Title: "Reset your password", Page: forgotPage{FieldError: "Enter your username or email address.", Error: "Too many"}})
	mustContain(t, "forgot", out, `id="who-error">Enter your username or email address.</p>`, `role="alert">Too many</p>`, `aria-invalid="true"`)
}

func TestRenderReset(t *testing.T) {
	out := renderPage(t, "reset", "reset", pageData{Title: "Choose a new password", Page: resetPage{Token: "tok&1", Username: "alice", Error: "Use at least 12 characters."}})
	mustContain(t, "reset", out, `action="/reset-password"`, `name="token" value="tok&amp;1"`, `<label for="password">`,
		`autocomplete="new-password"`, `id="password-error">Use at least 12 characters.</p>`, "<strong>alice</strong>")
	out = renderPage(t, "reset", "reset-invalid", pageData{Title: "Choose a new password", Page: resetPage{Invalid: true}})
	mustContain(t, "reset", out, "This link is not valid", `href="/forgot-password"`)
	mustNotContain(t, "reset", out, `name="password"`)
}

func TestRenderVerify(t *testing.T) {
	out := renderPage(t, "verify", "verify", pageData{Title: "Confirm your email address", Page: verifyPage{Token: "tok", Username: "alice", Email: "a@example.com"}})
	mustContain(t, "verify", out, `action="/verify-email"`, `name="token" value="tok"`, "<strong>a@example.com</strong>")
	out = renderPage(t, "verify", "verify-invalid", pageData{Title: "Confirm your email address", Page: verifyPage{Invalid: true}})
	mustContain(t, "verify", out, "This link is not valid")
	mustNotContain(t, "verify", out, `action="/verify-email"`)
}

func TestRenderDevMail(t *testing.T) {
	out := renderPage(t, "devmail", "devmail", pageData{Title: "Development mailbox", Page: devMailPage{Messages: []devMail{{
		To: "a@example.com", Subject: "Reset <it>", Text: "Open https://id.example/reset-password?token=abc\n", At: pgWhen,
		Links: []string{"https://id.example/reset-password?token=abc"},
	}}}})
	mustContain(t, "devmail", out, "Reset &lt;it&gt;", `<a href="https://id.example/reset-password?token=abc">`, "smtp.url")
	out = renderPage(t, "devmail", "devmail-empty", pageData{Title: "Development mailbox", Page: devMailPage{}})
	mustContain(t, "devmail", out, "No mail yet.")
}
