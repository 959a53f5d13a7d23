package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/servertest"
)

// virtualAuthenticator gives the tab a CTAP2 platform authenticator
// (Chromium's WebAuthn domain): resident keys, user verification that
// succeeds, presence simulated — a laptop's passkey without a person.
func (b *chrome) virtualAuthenticator() {
	b.t.Helper()
	add := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			},
		})
		return chromedp.Void{}, err
	}
	b.do("virtual authenticator", add)
}

// TestBrowserPasskey: in Chromium with a virtual authenticator, a person
// registers a passkey on /account/two-factor, signs out, and signs in
// with "Sign in with a passkey" alone (no username, no password); after
// that, the password sign-in asks for the passkey as the second factor.
// The ID tokens of both sign-ins say so: amr ["hwk","mfa"] and
// ["pwd","hwk"] (the virtual authenticator is device-bound), acr "2".
// WebAuthn needs a domain, so the server's issuer is localhost.
func TestBrowserPasskey(t *testing.T) {
	chromiumPath(t)
	s := servertest.NewWith(t, func(c *config.Config) {
		c.Server.Issuer = strings.Replace(c.Server.Issuer, "127.0.0.1", "localhost", 1)
	})
	base := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	const password = "pia-long-password-2026"
	s.CreateUser(t, "pia", password)
	b := newChrome(t, base, browserTimeout)
	b.virtualAuthenticator()
	signIn := func() {
		b.open("/login")
		b.fill("#username", "pia", "#password", password)
		b.click(`form[action="/login"] button[type="submit"]`)
	}

	signIn()
	b.open("/account/two-factor")
	b.fill("#passkey-name", "Test laptop")
	b.click(`[data-passkey-register] [data-passkey-button]`)
	// The first second factor brings the recovery codes, shown once.
	b.wantAt("/account/two-factor/recovery-codes")
	if n := b.count("[data-recovery-code]"); n != 10 {
		t.Fatalf("%d recovery codes after the first passkey, want 10", n)
	}
	b.click(`a[href="/account/two-factor"]`)
	b.wantText("#passkey-list", "Test laptop")
	b.open("/account/two-factor/recovery-codes") // once only
	b.wantAt("/account/two-factor")
	b.shoot("passkey-registered")
	b.audit("passkey-registered")
	b.click(`form[action="/logout"] button`)
	b.wantAt("/login")

	// Passwordless: the discoverable credential names the account.
	b.click(`[data-passkey-login="passwordless"] [data-passkey-button]`)
	b.wantAt("/")
	b.wantText(".session-user", "pia")
	wantAMR(t, "passwordless passkey", idTokenFor(t, s, base, b.sessionClient(base)), "2", "hwk", "mfa")
	b.click(`form[action="/logout"] button`)

	// The password now leads to the second step, answered by the passkey.
	signIn()
	b.wantAt("/login/two-factor")
	b.open("/user/keys")
	b.wantText("body", "missing_api_key")
	b.open("/login/two-factor")
	b.click(`[data-passkey-login="second-factor"] [data-passkey-button]`)
	b.wantAt("/")
	b.wantText(".session-user", "pia")
	wantAMR(t, "password + passkey", idTokenFor(t, s, base, b.sessionClient(base)), "2", "pwd", "hwk")
	b.checkConsole()
}
