package web

import (
	"html/template"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/twofactor"
)

func TestRenderTwoFactor(t *testing.T) {
	off := renderPage(t, "two_factor", "two-factor-off", pageData{Title: "Two-factor sign-in", User: testUserValue, Page: twoFactorPage{}})
	mustContain(t, "two_factor", off, `action="/account/two-factor/enrol"`, "Off.", csrfMarker, `href="/keys"`)
	mustNotContain(t, "two_factor", off, "passkey.js", "data-passkey")

	enrol := renderPage(t, "two_factor", "two-factor-enrol", pageData{Title: "Two-factor sign-in", User: testUserValue, Page: twoFactorPage{
		Enrolment: &twofactor.Enrolment{Secret: "JBSWY3DPEHPK3PXP", QR: "data:image/png;base64,AAAA"},
		QR:        template.URL("data:image/png;base64,AAAA"),
		Error:     "wrong <code>",
	}})
	mustContain(t, "two_factor", enrol,
		`src="data:image/png;base64,AAAA"`, `alt="QR code for your authenticator app"`, `value="JBSWY3DPEHPK3PXP"`,
		`action="/account/two-factor/confirm"`, `autocomplete="one-time-code"`, `aria-invalid="true"`,
		`id="confirm-error">wrong &lt;code&gt;</p>`)

	on := renderPage(t, "two_factor", "two-factor-on", pageData{Title: "Two-factor sign-in", User: testUserValue, Page: twoFactorPage{
		TOTP: true, RecoveryLeft: 7, ReauthError: "not right", PasskeysOn: true,
		Passkeys: []passkeyRow{{ID: "cred-1", Name: "Laptop <1>", Created: pgWhen, LastUsed: pgWhen}},
	}})
	mustContain(t, "two_factor", on,
		"Recovery codes left: <strong>7</strong>", `action="/account/two-factor/disable"`, `value="disable"`, `value="recovery"`,
		`id="reauth-error">not right</p>`, "Laptop &lt;1&gt;", `action="/account/two-factor/passkeys/remove"`,
		`<option value="cred-1">`, `data-passkey-register`, `src="/static/passkey.js"`)
}

func TestRenderSecondStep(t *testing.T) {
	out := renderPage(t, "login_two_factor", "login-two-factor", pageData{Title: "Two-factor sign-in", Page: secondStepPage{
		Username: "alice", HasTOTP: true, HasRecovery: true, Error: "That code is not right.",
	}})
	mustContain(t, "login_two_factor", out,
		`action="/login/two-factor"`, `name="code"`, `autocomplete="one-time-code"`, csrfMarker,
		`id="code-error">That code is not right.</p>`, `href="/login"`)
	mustNotContain(t, "login_two_factor", out, "passkey.js")

	keyOnly := renderPage(t, "login_two_factor", "login-two-factor-passkey", pageData{Title: "Two-factor sign-in", Page: secondStepPage{
		Username: "alice", HasPasskey: true,
	}})
	mustContain(t, "login_two_factor", keyOnly, `data-passkey-login="second-factor"`, `src="/static/passkey.js"`, csrfMarker)
	if strings.Contains(keyOnly, `action="/login/two-factor"`) {
		t.Error("a code form for an account with only a passkey")
	}
}

func TestRenderRecoveryCodes(t *testing.T) {
	out := renderPage(t, "recovery_codes", "recovery-codes", pageData{Title: "Recovery codes", User: testUserValue,
		Page: recoveryCodesPage{Codes: []string{"abcde-fghij", "klmno-pqrst"}}})
	mustContain(t, "recovery_codes", out, "<code data-recovery-code>abcde-fghij</code>", "only time", `href="/account/two-factor"`)
}
