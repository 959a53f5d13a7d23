package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/mail"
)

// TestForgotPasswordAnswersAlike: the reset request page answers an
// existing account, an unknown name and an unknown address with the same
// status and words; only the existing account gets mail.
func TestForgotPasswordAnswersAlike(t *testing.T) {
	f := newAccountFixture(t, nil)
	f.createUser(t, "ada", "ada@example.test")
	answer := func(who string) (int, string) {
		b := f.browser(t)
		b.get("/forgot-password")
		resp, body := b.post("/forgot-password", url.Values{"who": {who}})
		body = strings.ReplaceAll(body, who, "WHO")
		return resp.StatusCode, csrfFieldRe.ReplaceAllString(body, "")
	}
	s1, known := answer("ada")
	s2, unknown := answer("nobody")
	s3, unknownAddr := answer("nobody@example.test")
	if s1 != http.StatusOK || s2 != s1 || s3 != s1 || known != unknown || known != unknownAddr {
		t.Fatalf("answers differ: %d %d %d\n%s\n---\n%s", s1, s2, s3, known, unknown)
	}
	if !strings.Contains(known, "If an account matches") {
		t.Errorf("answer:\n%s", known)
	}
	f.nextLink(t, "ada@example.test", accounts.ResetPath)
	if n := f.smtp.Pending(); n != 0 {
		t.Errorf("%d more mails, want only ada's", n)
	}
}

// TestForgotPasswordThrottled: five requests per name, then 429 with
// Retry-After, whether or not the account exists; another name from the
// same network still goes through.
func TestForgotPasswordThrottled(t *testing.T) {
	f := newAccountFixture(t, nil)
	b := f.browser(t)
	b.get("/forgot-password")
	for i := range resetPerAddr {
		resp, _ := b.post("/forgot-password", url.Values{"who": {"nobody@example.test"}})
		wantStatus(t, "request "+string(rune('1'+i)), resp.StatusCode, http.StatusOK)
	}
	resp, body := b.post("/forgot-password", url.Values{"who": {"NOBODY@example.test"}})
	wantStatus(t, "sixth request", resp.StatusCode, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many reset requests") {
		t.Errorf("429 without Retry-After or message: %q", resp.Header.Get("Retry-After"))
	}
	resp, _ = b.post("/forgot-password", url.Values{"who": {"other"}})
	wantStatus(t, "another name", resp.StatusCode, http.StatusOK)
	for range resetPerIP - resetPerAddr - 1 {
		b.post("/forgot-password", url.Values{"who": {"x" + randomToken()[:8]}})
	}
	resp, _ = b.post("/forgot-password", url.Values{"who": {"fresh-name"}})
	wantStatus(t, "past the per-network limit", resp.StatusCode, http.StatusTooManyRequests)
}

// TestResetPasswordByMail: the mailed link opens a form, a refused
// password does not spend it, a good one sets the password, ends the
// account's other sessions and sends the browser to sign in; the link
// then works no more.
func TestResetPasswordByMail(t *testing.T) {
	f := newAccountFixture(t, nil)
	u := f.createUser(t, "ada", "ada@example.test")
	other := f.browser(t)
	if !other.login("ada", acctPassword) || !other.signedIn() {
		t.Fatal("could not sign in")
	}
	b := f.browser(t)
	b.get("/forgot-password")
	b.post("/forgot-password", url.Values{"who": {"ada@example.test"}})
	link := f.nextLink(t, "ada@example.test", accounts.ResetPath)

	status, body := b.get(link)
	wantStatus(t, "open link", status, http.StatusOK)
	if !strings.Contains(body, `name="password"`) || !strings.Contains(body, "<strong>ada</strong>") {
		t.Fatalf("reset form:\n%s", body)
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	resp, body := b.post(accounts.ResetPath, url.Values{"token": {token.Get("token")}, "password": {"short"}})
	wantStatus(t, "short password", resp.StatusCode, http.StatusBadRequest)
	if !strings.Contains(body, `id="password-error">Use at least 12 characters.`) {
		t.Errorf("no error next to the field:\n%s", body)
	}
	resp, _ = b.post(accounts.ResetPath, url.Values{"token": {token.Get("token")}, "password": {"violet harbour engine"}})
	wantStatus(t, "reset", resp.StatusCode, http.StatusSeeOther)
	if resp.Header.Get("Location") != "/login" {
		t.Errorf("Location %q, want /login", resp.Header.Get("Location"))
	}
	if other.signedIn() {
		t.Error("another session of the account survived the reset")
	}
	if !f.logout.endedFor(u.ID) {
		t.Error("the apps the ended sessions reached were not told (back-channel logout)")
	}
	if f.browser(t).login("ada", acctPassword) {
		t.Error("the old password still signs in")
	}
	if !f.browser(t).login("ada", "violet harbour engine") {
		t.Error("the new password does not sign in")
	}
	status, body = b.get(link)
	wantStatus(t, "used link", status, http.StatusBadRequest)
	if !strings.Contains(body, "This link is not valid") {
		t.Errorf("used link page:\n%s", body)
	}
	resp, _ = b.post(accounts.ResetPath, url.Values{"token": {token.Get("token")}, "password": {"another fine phrase"}})
	wantStatus(t, "second use", resp.StatusCode, http.StatusBadRequest)
}

// TestChangePassword: the current password is required, errors stand next
// to their fields, and a change keeps this browser signed in while every
// other session of the person ends.
func TestChangePassword(t *testing.T) {
	f := newAccountFixture(t, nil)
	u := f.createUser(t, "ada", "ada@example.test")
	a, other := f.browser(t), f.browser(t)
	if !a.login("ada", acctPassword) || !other.login("ada", acctPassword) {
		t.Fatal("could not sign in")
	}
	a.get("/account")
	resp, body := a.post("/account/password", url.Values{"current_password": {"not my password"}, "new_password": {"violet harbour engine"}})
	wantStatus(t, "wrong current", resp.StatusCode, http.StatusUnauthorized)
	if !strings.Contains(body, `id="current_password-error">That is not your current password.`) {
		t.Errorf("no error next to the current password:\n%s", body)
	}
	resp, body = a.post("/account/password", url.Values{"current_password": {acctPassword}, "new_password": {"ada"}})
	wantStatus(t, "weak new", resp.StatusCode, http.StatusBadRequest)
	if !strings.Contains(body, `id="new_password-error">`) {
		t.Errorf("no error next to the new password:\n%s", body)
	}
	resp, _ = a.post("/account/password", url.Values{"current_password": {acctPassword}, "new_password": {"violet harbour engine"}})
	wantStatus(t, "change", resp.StatusCode, http.StatusSeeOther)
	if !a.signedIn() {
		t.Error("the browser that changed the password was signed out")
	}
	if other.signedIn() {
		t.Error("another session survived the password change")
	}
	if !f.logout.endedFor(u.ID) {
		t.Error("the apps the ended sessions reached were not told (back-channel logout)")
	}
	if !f.browser(t).login("ada", "violet harbour engine") {
		t.Error("the new password does not sign in")
	}
	// Without the form's CSRF token the change is refused.
	resp, _ = a.post("/account/password", url.Values{"csrf_token": {"forged"}, "current_password": {"violet harbour engine"}, "new_password": {"another fine phrase"}})
	wantStatus(t, "no CSRF token", resp.StatusCode, http.StatusForbidden)
}

// TestProfileAndVerifyEmail: a bad address is refused next to its field;
// a new one is saved unverified and gets a link; following it (a page,
// then a button) verifies it once.
func TestProfileAndVerifyEmail(t *testing.T) {
	f := newAccountFixture(t, nil)
	u := f.createUser(t, "ada", "ada@example.test")
	b := f.browser(t)
	if !b.login("ada", acctPassword) {
		t.Fatal("could not sign in")
	}
	_, body := b.get("/account")
	if !strings.Contains(body, "not verified") {
		t.Errorf("account page does not say the address is unverified")
	}
	resp, body := b.post("/account/profile", url.Values{"name": {"Ada L"}, "email": {"nope"}})
	wantStatus(t, "bad email", resp.StatusCode, http.StatusBadRequest)
	if !strings.Contains(body, `id="email-error">Enter an email address like name@example.com.`) || !strings.Contains(body, `value="nope"`) {
		t.Errorf("no error next to the email field:\n%s", body)
	}
	resp, body = b.post("/account/profile", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@new.example.test"}})
	wantStatus(t, "a new address without the password", resp.StatusCode, http.StatusBadRequest)
	if !strings.Contains(body, `id="profile-current-password-error">Enter your current password to change the email address.`) {
		t.Errorf("no error next to the profile's password field:\n%s", body)
	}
	resp, _ = b.post("/account/profile", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@new.example.test"}, "current_password": {"wrong horse battery"}})
	wantStatus(t, "a new address with a wrong password", resp.StatusCode, http.StatusUnauthorized)
	if got, _ := f.db.GetUser(t.Context(), u.ID); got.Email != "ada@example.test" {
		t.Fatalf("the address changed to %q without the password", got.Email)
	}
	resp, _ = b.post("/account/profile", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@new.example.test"}, "current_password": {acctPassword}})
	wantStatus(t, "save", resp.StatusCode, http.StatusSeeOther)
	link := f.nextLink(t, "ada@new.example.test", accounts.VerifyPath)
	_, body = b.get("/account")
	if !strings.Contains(body, "We sent a confirmation link to ada@new.example.test") || !strings.Contains(body, `value="Ada Lovelace"`) {
		t.Errorf("account page after saving:\n%s", body)
	}

	anon := f.browser(t) // the link works in any browser
	status, body := anon.get(link)
	wantStatus(t, "open link", status, http.StatusOK)
	if !strings.Contains(body, "<strong>ada@new.example.test</strong>") {
		t.Errorf("verify page:\n%s", body)
	}
	if got, _ := f.db.GetUser(t.Context(), u.ID); got.EmailVerifiedAt != nil {
		t.Fatal("opening the link verified the address before the button was pressed")
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	resp, _ = anon.post(accounts.VerifyPath, url.Values{"token": {token.Get("token")}})
	wantStatus(t, "confirm", resp.StatusCode, http.StatusSeeOther)
	if got, _ := f.db.GetUser(t.Context(), u.ID); got.EmailVerifiedAt == nil || got.Email != "ada@new.example.test" {
		t.Fatalf("after confirming: %+v", got)
	}
	resp, _ = anon.post(accounts.VerifyPath, url.Values{"token": {token.Get("token")}})
	wantStatus(t, "second use", resp.StatusCode, http.StatusBadRequest)
	_, body = b.get("/account")
	if !strings.Contains(body, `<span class="status status-active">verified</span>`) || strings.Contains(body, `action="/account/verify-email"`) {
		t.Errorf("account page after verification:\n%s", body)
	}
}

// TestResendVerification: the button mails a new link to the current
// address.
func TestResendVerification(t *testing.T) {
	f := newAccountFixture(t, nil)
	f.createUser(t, "ada", "ada@example.test")
	b := f.browser(t)
	b.login("ada", acctPassword)
	b.get("/account")
	resp, _ := b.post("/account/verify-email", url.Values{})
	wantStatus(t, "resend", resp.StatusCode, http.StatusSeeOther)
	f.nextLink(t, "ada@example.test", accounts.VerifyPath)
}

// TestDevMail: the development mailbox exists only without SMTP.
func TestDevMail(t *testing.T) {
	f := newAccountFixture(t, nil)
	status, _ := f.browser(t).get("/dev/mail")
	wantStatus(t, "with SMTP", status, http.StatusNotFound)

	outbox := mail.NewOutbox(nil, nil)
	if err := outbox.Send(t.Context(), mail.Message{To: "ada@example.test", Subject: "Reset your Latchkey password", Text: "Open https://x.example/reset-password?token=abc\n"}); err != nil {
		t.Fatal(err)
	}
	f = newAccountFixture(t, outbox)
	status, body := f.browser(t).get("/dev/mail")
	wantStatus(t, "without SMTP", status, http.StatusOK)
	if !strings.Contains(body, `<a href="https://x.example/reset-password?token=abc">`) {
		t.Errorf("dev mail page:\n%s", body)
	}
}
