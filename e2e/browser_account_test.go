package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/servertest"
	"github.com/latchkey/latchkey/internal/smtptest"
)

// mailWait bounds how long a test waits for a mail at the SMTP server.
const mailWait = 10 * time.Second

// TestBrowserAccountMail: in headless Chromium against a server sending
// real SMTP to an in-process mail server — forgot password → the mail →
// its link → a new password: the old password is refused, the new one
// works and another session of the person has ended; then a new address
// on /account is confirmed through the link mailed to it.
func TestBrowserAccountMail(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	mailer := smtptest.Start(t, "latchkey", "mail-password")
	s := servertest.NewWith(t, func(c *config.Config) {
		c.SMTP.URL, c.SMTP.From = mailer.URL(), "Latchkey <no-reply@example.com>"
	})
	const oldPassword, newPassword = "rose-old-password-2026", "rose-new-password-2026"
	s.CreateUser(t, "rose", oldPassword)

	// Another device, signed in before the reset.
	other := flowtest.Browser(t)
	s.Login(t, other, "rose", oldPassword)
	if resp, _ := flowtest.Get(t, other, s.URL+"/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("other session: /account %d", resp.StatusCode)
	}
	if resp, _ := flowtest.Get(t, other, s.URL+"/dev/mail"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/dev/mail with SMTP configured: %d, want 404", resp.StatusCode)
	}

	b := newChrome(t, s.URL, browserTimeout)
	b.open("/login")
	b.click(`a[href="/forgot-password"]`)
	b.wantAt("/forgot-password")
	b.shoot("forgot-password")
	b.fill("#who", "rose@example.com")
	b.click(`form[action="/forgot-password"] button[type="submit"]`)
	b.wantText("main", "If an account matches", "rose@example.com")
	b.shoot("forgot-password-sent")

	m := mailer.Next(t, mailWait)
	if m.Subject != "Reset your Latchkey password" || len(m.To) != 1 || m.To[0] != "rose@example.com" || m.HTML == "" {
		t.Fatalf("mail %q to %v (HTML part %d bytes)", m.Subject, m.To, len(m.HTML))
	}
	link := m.Link("/reset-password?token=")
	if !strings.HasPrefix(link, s.URL+"/reset-password?token=") {
		t.Fatalf("reset link %q", link)
	}
	b.open(link)
	b.wantText("main", "rose")
	b.fill("#password", "short")
	if resp := b.click(`form[action="/reset-password"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("short password: status %d", resp.Status)
	}
	b.wantText("#password-error", "at least 12")
	b.shoot("reset-password-error")
	b.fill("#password", newPassword)
	b.click(`form[action="/reset-password"] button[type="submit"]`)
	b.wantAt("/login")
	b.wantText(".flash", "Your password is changed")

	if resp, _ := flowtest.Get(t, other, s.URL+"/account"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the other session after the reset: %d → %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if st := b.open(link); st != http.StatusBadRequest {
		t.Errorf("the used link: status %d, want 400", st)
	}

	b.open("/login?next=/account")
	b.fill("#username", "rose", "#password", oldPassword)
	if resp := b.click(`form[action="/login"] button[type="submit"]`); resp.Status != http.StatusUnauthorized {
		t.Fatalf("old password: status %d, want 401", resp.Status)
	}
	b.fill("#username", "rose", "#password", newPassword)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/account")
	b.wantText("main", "verified") // following the reset link proved the address

	// A new address: unverified until its link is followed.
	b.fill("#name", "Rose Tyler", "#email", "rose@new.example.com", "#profile-current-password", newPassword)
	b.click(`form[action="/account/profile"] button[type="submit"]`)
	b.wantAt("/account")
	b.wantText(".flash", "confirmation link to rose@new.example.com")
	b.wantText("main", "not verified")
	b.shoot("account")
	m = mailer.Next(t, mailWait)
	if m.Subject != "Confirm your email address for Latchkey" || m.To[0] != "rose@new.example.com" {
		t.Fatalf("verification mail %q to %v", m.Subject, m.To)
	}
	b.open(m.Link("/verify-email?token="))
	b.wantText("main", "rose@new.example.com")
	b.shoot("verify-email")
	b.click(`form[action="/verify-email"] button[type="submit"]`)
	b.wantAt("/account")
	b.wantText(".flash", "rose@new.example.com is confirmed")
	if strings.Contains(b.text("main"), "not verified") {
		t.Error("the account page still says the address is not verified")
	}
	u, err := s.App.DB().GetUserByUsername(t.Context(), "rose")
	if err != nil || u.EmailVerifiedAt == nil || u.Email != "rose@new.example.com" || u.Name != "Rose Tyler" {
		t.Fatalf("stored user %+v, %v", u, err)
	}
	if len(mailer.Auth) == 0 {
		t.Error("the server sent mail without authenticating")
	}
	b.checkConsole()
}
