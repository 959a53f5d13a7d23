package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpAt is the authenticator app of the test: the code of secret at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBrowserTwoFactorTOTP: in Chromium, a person turns on an authenticator
// app from /account (QR code and key shown, a code confirms), keeps the
// recovery codes, signs out, and signs in with password + code (computed
// here from the key the page showed); a recovery code signs in once.
func TestBrowserTwoFactorTOTP(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	const password = "tess-long-password-2026"
	s.CreateUser(t, "tess", password)
	b := newChrome(t, s.URL, browserTimeout)
	signIn := func() {
		b.open("/login")
		b.fill("#username", "tess", "#password", password)
		b.click(`form[action="/login"] button[type="submit"]`)
	}
	signOut := func() {
		b.click(`form[action="/logout"] button`)
		b.wantAt("/login")
	}
	signIn()
	b.open("/account")
	b.click(`a[href="/account/two-factor"]`)
	b.wantAt("/account/two-factor")
	b.click(`form[action="/account/two-factor/enrol"] button`)
	if b.count(`img[src^="data:image/png;base64,"]`) != 1 {
		t.Fatal("no QR code on the enrolment page")
	}
	secret := b.value("#totp-secret")
	if len(secret) < 16 {
		t.Fatalf("key shown = %q", secret)
	}
	b.shoot("two-factor-enrol")
	b.audit("two-factor-enrol")
	b.fill("#confirm-code", totpAt(t, secret, time.Now()))
	b.click(`form[action="/account/two-factor/confirm"] button`)
	b.wantText("#codes-heading", "recovery codes")
	var codes []string
	for i := range b.count("[data-recovery-code]") {
		codes = append(codes, strings.TrimSpace(b.text(`#recovery-codes li:nth-child(`+strconv.Itoa(i+1)+`) code`)))
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	b.shoot("two-factor-recovery-codes")
	b.audit("two-factor-recovery-codes")
	b.click(`a[href="/account/two-factor"]`)
	b.wantText("main", "Recovery codes left: 10")
	signOut()

	// Password, then the code: the confirming step is used, so the app's
	// next code (within the accepted drift).
	signIn()
	b.wantAt("/login/two-factor")
	b.shoot("two-factor-second-step")
	b.audit("two-factor-second-step")
	b.open("/keys") // the half-signed-in state is no session
	b.wantAt("/login")
	b.open("/login/two-factor")
	b.fill("#code", totpAt(t, secret, time.Now().Add(30*time.Second)))
	b.click(`form[action="/login/two-factor"] button[type="submit"]`)
	b.wantText(".session-user", "tess")
	signOut()

	// A recovery code, once.
	signIn()
	b.fill("#code", codes[0])
	b.click(`form[action="/login/two-factor"] button[type="submit"]`)
	b.wantText(".session-user", "tess")
	signOut()
	signIn()
	b.fill("#code", codes[0])
	b.click(`form[action="/login/two-factor"] button[type="submit"]`)
	b.wantText("#code-error", "not right")
	b.checkConsole()
}
