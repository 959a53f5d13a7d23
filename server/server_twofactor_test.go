package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/web"
)

var (
	totpSecretRe   = regexp.MustCompile(`id="totp-secret" type="text" value="([A-Z2-7]+)"`)
	recoveryCodeRe = regexp.MustCompile(`<code data-recovery-code>([a-z2-7]{5}-[a-z2-7]{5})</code>`)
)

// totpCode is the authenticator app: the code of secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP turns on an authenticator for the signed-in browser c through
// /account/two-factor and returns its secret and the recovery codes shown.
func enrolTOTP(t *testing.T, s *testServer, c *http.Client) (string, []string) {
	t.Helper()
	_, page := get(t, c, s.URL+"/account/two-factor")
	resp, page := postForm(t, c, s.URL+"/account/two-factor/enrol", url.Values{"csrf_token": {formValue(t, csrfRe, page)}}, s.URL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatalf("enrol: %d, no QR code\n%s", resp.StatusCode, page)
	}
	secret := formValue(t, totpSecretRe, page)
	bad := url.Values{"csrf_token": {formValue(t, csrfRe, page)}, "code": {"000000"}}
	if resp, body := postForm(t, c, s.URL+"/account/two-factor/confirm", bad, s.URL); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, "That code is not right") {
		t.Fatalf("a wrong confirmation code: %d", resp.StatusCode)
	}
	_, page = get(t, c, s.URL+"/account/two-factor") // the enrolment is still shown
	if got := formValue(t, totpSecretRe, page); got != secret {
		t.Fatalf("the pending secret changed on reload: %q, want %q", got, secret)
	}
	v := url.Values{"csrf_token": {formValue(t, csrfRe, page)}, "code": {totpCode(t, secret, time.Now())}}
	resp, page = postForm(t, c, s.URL+"/account/two-factor/confirm", v, s.URL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
	}
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(page, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10\n%s", len(codes), page)
	}
	return secret, codes
}

// passwordStep signs c in with the password only and returns the page the
// login form sent it to.
func passwordStep(t *testing.T, s *testServer, c *http.Client, next string) string {
	t.Helper()
	_, page := get(t, c, s.URL+"/login")
	v := url.Values{"username": {"alice"}, "password": {alicePassword}, "csrf_token": {formValue(t, csrfRe, page)}, "next": {next}}
	resp, body := postForm(t, c, s.URL+"/login", v, s.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password step: %d\n%s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// secondStep posts code on the second-step page.
func secondStep(t *testing.T, s *testServer, c *http.Client, code string) (*http.Response, string) {
	t.Helper()
	resp, page := get(t, c, s.URL+"/login/two-factor")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second-step page: %d", resp.StatusCode)
	}
	return postForm(t, c, s.URL+"/login/two-factor", url.Values{"csrf_token": {formValue(t, csrfRe, page)}, "code": {code}}, s.URL)
}

func logout(t *testing.T, s *testServer, c *http.Client) {
	t.Helper()
	_, page := get(t, c, s.URL+"/account")
	if resp, _ := postForm(t, c, s.URL+"/logout", url.Values{"csrf_token": {formValue(t, csrfRe, page)}}, s.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
}

// TestTwoFactorSignIn: with an authenticator on, the password leads to the
// second step — a state that is no session: /keys, /user/keys and
// /oauth/authorize refuse it — and a code (single-use within its step)
// or a recovery code (single-use) completes the sign-in. HTTP Basic is
// refused with a message naming API keys.
func TestTwoFactorSignIn(t *testing.T) {
	t.Parallel()
	s, clientID, _ := serverWithClient(t)
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	secret, codes := enrolTOTP(t, s, c)
	logout(t, s, c)

	if loc := passwordStep(t, s, c, "/keys"); loc != "/login/two-factor" {
		t.Fatalf("after the password: Location %q, want /login/two-factor", loc)
	}
	t.Run("SecondStepCannotBeSkipped", func(t *testing.T) {
		if resp, _ := get(t, c, s.URL+"/keys"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("/keys after the password only: %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := get(t, c, s.URL+"/account/two-factor"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("/account/two-factor after the password only: %d, want a redirect", resp.StatusCode)
		}
		if resp, body := get(t, c, s.URL+"/user/keys"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/user/keys with the half-signed-in cookie: %d, want 401\n%s", resp.StatusCode, body)
		}
		resp, _ := get(t, c, authorizeURL(s, clientID))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
			t.Errorf("/oauth/authorize after the password only: %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
		if isSignedIn(t, s, c, "alice") {
			t.Error("the home page shows alice signed in after the password only")
		}
	})
	// The password step again (the authorize visit above left it alone).
	passwordStep(t, s, c, "/keys")
	if resp, body := secondStep(t, s, c, "123456"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Fatalf("a wrong code: %d", resp.StatusCode)
	}
	// The confirming code's step is used: the next step's code (within the
	// accepted drift) signs in.
	code := totpCode(t, secret, time.Now().Add(30*time.Second))
	resp, _ := secondStep(t, s, c, code)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/keys" {
		t.Fatalf("right code: %d %s, want 303 to /keys", resp.StatusCode, resp.Header.Get("Location"))
	}
	if r, _ := get(t, c, s.URL+"/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("/keys after both steps: %d", r.StatusCode)
	}

	t.Run("CodeReplayRefused", func(t *testing.T) {
		b := browser(t)
		passwordStep(t, s, b, "/")
		if resp, _ := secondStep(t, s, b, code); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the same code again: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("RecoveryCodeOnce", func(t *testing.T) {
		b := browser(t)
		passwordStep(t, s, b, "/")
		if resp, _ := secondStep(t, s, b, codes[0]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("a recovery code: %d, want 303", resp.StatusCode)
		}
		b = browser(t)
		passwordStep(t, s, b, "/")
		if resp, _ := secondStep(t, s, b, codes[0]); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the same recovery code again: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("HTTPBasicRefused", func(t *testing.T) {
		status, body, _ := apiCall(t, http.MethodGet, s.URL+"/user/keys", basicHeader("alice", alicePassword), "")
		if status != http.StatusUnauthorized || body["error"] != "second_factor_required" || !strings.Contains(body["message"].(string), "API key") {
			t.Errorf("HTTP Basic of a two-factor account: %d %v", status, body)
		}
		status, body, _ = apiCall(t, http.MethodGet, s.URL+"/user/keys", basicHeader("alice", "wrong-password-1"), "")
		if status != http.StatusUnauthorized || body["error"] != "unauthorized" {
			t.Errorf("HTTP Basic with a wrong password: %d %v", status, body)
		}
	})
}

// TestTwoFactorThrottle: wrong second-step codes are counted per user in
// the login throttle; past the limit even a right code waits.
func TestTwoFactorThrottle(t *testing.T) {
	t.Parallel()
	s, _, _ := serverWithClient(t)
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	_, codes := enrolTOTP(t, s, c)
	logout(t, s, c)
	passwordStep(t, s, c, "/")
	var last int
	for i := range 12 {
		resp, _ := secondStep(t, s, c, "00000"+string(rune('0'+i%10)))
		last = resp.StatusCode
		if last == http.StatusTooManyRequests {
			break
		}
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after many wrong codes: %d, want 429", last)
	}
	resp, body := secondStep(t, s, c, codes[1])
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many wrong codes") {
		t.Errorf("a right code while throttled: %d, want 429 with Retry-After", resp.StatusCode)
	}
}

// TestTwoFactorDisableNeedsPasswordOrCode: a signed-in session alone cannot
// turn the authenticator off.
func TestTwoFactorDisableNeedsPasswordOrCode(t *testing.T) {
	t.Parallel()
	s, _, _ := serverWithClient(t)
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	enrolTOTP(t, s, c)
	_, page := get(t, c, s.URL+"/account/two-factor")
	for _, v := range []url.Values{{"action": {"disable"}}, {"action": {"disable"}, "password": {"not-the-password"}}} {
		v.Set("csrf_token", formValue(t, csrfRe, page))
		if resp, body := postForm(t, c, s.URL+"/account/two-factor/disable", v, s.URL); resp.StatusCode < 400 || !strings.Contains(body, "Recovery codes left") {
			t.Fatalf("disable with %v: %d, want a refusal and the authenticator still on", v, resp.StatusCode)
		}
	}
	v := url.Values{"csrf_token": {formValue(t, csrfRe, page)}, "action": {"disable"}, "password": {alicePassword}}
	if resp, _ := postForm(t, c, s.URL+"/account/two-factor/disable", v, s.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable with the password: %d", resp.StatusCode)
	}
	logout(t, s, c)
	if loc := passwordStep(t, s, c, "/keys"); loc != "/keys" {
		t.Errorf("after turning it off the password signs in alone: Location %q, want /keys", loc)
	}
}

// TestTwoFactorThrottleWindow: wrong second-step codes are held to
// web.SecondFactorLimit per web.SecondFactorWindow — not the login
// throttle's ten a minute, at which a guesser holding the password has a
// 4% chance a day of hitting one of the three accepted codes.
func TestTwoFactorThrottleWindow(t *testing.T) {
	t.Parallel()
	s, _, _ := serverWithClient(t)
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	enrolTOTP(t, s, c)
	logout(t, s, c)
	passwordStep(t, s, c, "/")
	wrong := 0
	var resp *http.Response
	for i := range 12 {
		resp, _ = secondStep(t, s, c, "90000"+string(rune('0'+i%10)))
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		wrong++
	}
	if wrong != web.SecondFactorLimit {
		t.Errorf("%d wrong codes checked before 429, want %d", wrong, web.SecondFactorLimit)
	}
	secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if min := int((web.SecondFactorWindow - time.Minute).Seconds()); secs < min {
		t.Errorf("Retry-After %d s, want at least %d (the second-factor window)", secs, min)
	}
}
