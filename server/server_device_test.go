package server_test

// The device authorization grant (RFC 8628) end to end: golang.org/x/oauth2's
// device support (Config.DeviceAuth, DeviceAccessToken) polls the real
// server while a cookie-keeping browser signs in on /device, types the user
// code and approves on the consent page; then the ugly cases.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
)

var (
	userCodeRe       = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)
	deviceFieldRe    = regexp.MustCompile(`name="user_code" type="text" value="([^"]*)"`)
	deviceFieldErrRe = regexp.MustCompile(`<p class="field-error" id="user_code-error">([^<]*)</p>`)
)

// deviceEnv is a server polling at 1 s with one person, a confidential
// device client (device_code + refresh_token), a public one, and a web
// client that is not registered for the device grant.
type deviceEnv struct {
	s                 *testServer
	conf              *oauth2.Config
	publicID, webID   string
	webSecret, userID string
	otherID, otherSec string
}

func newDeviceEnv(t *testing.T, mutate func(*config.Config)) *deviceEnv {
	t.Helper()
	s := newTestServerWith(t, func(c *config.Config) {
		c.OAuth.DevicePollInterval = config.Duration(time.Second)
		if mutate != nil {
			mutate(c)
		}
	})
	u := s.CreateUser(t, e2eUser, e2ePassword)
	grants := []string{oauth.GrantTypeDeviceCode, "refresh_token"}
	id, sec := s.CreateClient(t, oauth.ClientSpec{Name: "Living Room TV", GrantTypes: grants,
		Scopes: []string{"openid", "profile", "email", "offline_access", "users:read"}})
	otherID, otherSec := s.CreateClient(t, oauth.ClientSpec{Name: "Other TV", GrantTypes: grants})
	pub, _ := s.CreateClient(t, oauth.ClientSpec{Name: "CLI", GrantTypes: grants, Public: true})
	web, webSec := s.CreateClient(t, oauth.ClientSpec{Name: "Web App", RedirectURIs: []string{e2eRedirect}})
	return &deviceEnv{s: s, userID: u.ID, publicID: pub, webID: web, webSecret: webSec, otherID: otherID, otherSec: otherSec,
		conf: &oauth2.Config{
			ClientID: id, ClientSecret: sec,
			Endpoint: oauth2.Endpoint{
				DeviceAuthURL: s.URL + "/oauth/device_authorization",
				TokenURL:      s.URL + "/oauth/token",
				AuthStyle:     oauth2.AuthStyleInHeader,
			},
			Scopes: []string{"openid", "offline_access", "profile"},
		}}
}

// deviceAuth starts a device authorization with x/oauth2. Its DeviceAuth
// sends only client_id (x/oauth2 v0.37.0, whatever the AuthStyle), so the
// confidential client's secret goes in the body (client_secret_post); the
// token requests DeviceAccessToken makes use HTTP Basic.
func (e *deviceEnv) deviceAuth(t testing.TB) *oauth2.DeviceAuthResponse {
	t.Helper()
	da, err := e.conf.DeviceAuth(context.Background(), oauth2.SetAuthURLParam("client_secret", e.conf.ClientSecret))
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	return da
}

// signedIn returns a browser signed in as the test person.
func (e *deviceEnv) signedIn(t testing.TB) *http.Client {
	t.Helper()
	c := browser(t)
	e.s.Login(t, c, e2eUser, e2ePassword)
	return c
}

// submitCode posts typed on /device and returns the answer.
func (e *deviceEnv) submitCode(t testing.TB, c *http.Client, typed string) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, e.s.URL+"/device")
	return postForm(t, c, e.s.URL+"/device", url.Values{"user_code": {typed}, "csrf_token": {formValue(t, csrfRe, page)}}, e.s.URL)
}

// decide answers the consent page the code led to.
func (e *deviceEnv) decide(t testing.TB, c *http.Client, consent, decision string) (*http.Response, string) {
	t.Helper()
	return postForm(t, c, e.s.URL+"/device/consent", url.Values{
		"csrf_token": {formValue(t, csrfRe, consent)}, "challenge": {formValue(t, challengeRe, consent)}, "decision": {decision},
	}, e.s.URL)
}

// approve types code in a signed-in browser and allows (or denies).
func (e *deviceEnv) approve(t testing.TB, code, decision string) {
	t.Helper()
	c := e.signedIn(t)
	resp, consent := e.submitCode(t, c, code)
	if resp.StatusCode != http.StatusOK || !strings.Contains(consent, `action="/device/consent"`) {
		t.Fatalf("POST /device: status %d, want the consent page\n%s", resp.StatusCode, consent)
	}
	if resp, body := e.decide(t, c, consent, decision); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /device/consent: status %d\n%s", resp.StatusCode, body)
	}
}

// poll sends one device_code token request as client id:sec ("" sec: a
// public client by client_id) and returns the status and body.
func (e *deviceEnv) poll(t testing.TB, id, sec, deviceCode string) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {oauth.GrantTypeDeviceCode}, "device_code": {deviceCode}}
	var prepare func(*http.Request)
	if sec != "" {
		prepare = basicAuth(id, sec)
	} else {
		v.Set("client_id", id)
	}
	resp, b := postValues(t, e.s.URL+"/oauth/token", v, prepare)
	return resp.StatusCode, decodeObject(t, b)
}

func wantOAuthError(t testing.TB, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["error"] != wantCode {
		t.Fatalf("%s: status %d error %v (%v), want %d %s", what, status, body["error"], body["error_description"], wantStatus, wantCode)
	}
}

// TestE2EDeviceFlow: x/oauth2 polls while the person signs in through the
// verification_uri_complete link, confirms the prefilled code and allows;
// the tokens it gets are a person's tokens like the code flow's: an ID
// token, userinfo, introspection, refresh with rotation, revocation; the
// device code is then spent, and the grant is counted in the metrics.
func TestE2EDeviceFlow(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, nil)
	s := e.s
	da := e.deviceAuth(t)
	if !userCodeRe.MatchString(da.UserCode) {
		t.Errorf("user_code = %q, want XXXX-XXXX from the consonant alphabet", da.UserCode)
	}
	if da.VerificationURI != s.URL+"/device" {
		t.Errorf("verification_uri = %q, want %s/device", da.VerificationURI, s.URL)
	}
	if want := s.URL + "/device?user_code=" + da.UserCode; da.VerificationURIComplete != want {
		t.Errorf("verification_uri_complete = %q, want %q", da.VerificationURIComplete, want)
	}
	if len(da.DeviceCode) < 40 || da.Interval != 1 {
		t.Errorf("device_code %q (want ≥ 40 characters), interval %d (want 1)", da.DeviceCode, da.Interval)
	}
	if d := time.Until(da.Expiry); d < 9*time.Minute || d > 10*time.Minute+time.Second {
		t.Errorf("expires in %v, want 10 minutes", d)
	}

	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		tok, err := e.conf.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()

	// The person follows the complete link without a session: sign in
	// first, then back to /device with the code kept.
	c := browser(t)
	resp, body := get(t, c, da.VerificationURIComplete)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("/device without a session: status %d Location %q, want 303 to /login\n%s", resp.StatusCode, loc, body)
	}
	lu, _ := url.Parse(loc)
	next := lu.Query().Get("next")
	if next != "/device?user_code="+da.UserCode {
		t.Fatalf("login next = %q, want /device with the user code", next)
	}
	_, page := get(t, c, s.URL+loc)
	resp, body = postForm(t, c, s.URL+"/login", url.Values{
		"username": {e2eUser}, "password": {e2ePassword}, "next": {next}, "csrf_token": {formValue(t, csrfRe, page)},
	}, s.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("login: status %d Location %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), next, body)
	}
	// The code is prefilled but not submitted: the person confirms.
	resp, page = get(t, c, s.URL+next)
	if resp.StatusCode != http.StatusOK || html.UnescapeString(formValue(t, deviceFieldRe, page)) != da.UserCode {
		t.Fatalf("/device form: status %d, want the code prefilled\n%s", resp.StatusCode, page)
	}
	select {
	case r := <-done:
		t.Fatalf("the device got an answer before the person confirmed: %+v %v", r.tok, r.err)
	default:
	}
	// Case and dashes do not matter (RFC 8628 §6.1).
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " "))
	resp, consent := postForm(t, c, s.URL+"/device", url.Values{"user_code": {typed}, "csrf_token": {formValue(t, csrfRe, page)}}, s.URL)
	if resp.StatusCode != http.StatusOK || !strings.Contains(consent, "Living Room TV") || !strings.Contains(consent, da.UserCode) {
		t.Fatalf("consent page: status %d, want the app's name and the user code\n%s", resp.StatusCode, consent)
	}
	for _, sc := range e.conf.Scopes {
		if !strings.Contains(consent, "<code>"+sc+"</code>") {
			t.Errorf("consent page does not list scope %q", sc)
		}
	}
	resp, body = e.decide(t, c, consent, "allow")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Device connected") {
		t.Fatalf("allow: status %d\n%s", resp.StatusCode, body)
	}

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("DeviceAccessToken did not return after the approval")
	}
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	tok := r.tok
	if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token = %+v, want access and refresh tokens", tok)
	}
	if got := strings.Join(scopeSet(tok.Extra("scope").(string)), " "); got != "offline_access openid profile" {
		t.Errorf("scope = %v", got)
	}
	idt, _ := tok.Extra("id_token").(string)
	claims := jwtClaims(t, idt)
	if claims["sub"] != e.userID || fmt.Sprint(claims["aud"]) != "["+e.conf.ClientID+"]" || claims["iss"] != s.URL || claims["at_hash"] == nil || claims["auth_time"] == nil {
		t.Errorf("id_token claims = %v", claims)
	}
	if _, ok := claims["sid"]; ok {
		t.Error("the device's ID token names the browser session (sid)")
	}

	// userinfo and introspection see the person's token.
	resp, b := call(t, http.MethodGet, s.URL+"/oauth/userinfo", "", nil, bearer(tok.AccessToken))
	if resp.StatusCode != http.StatusOK || decodeObject(t, b)["sub"] != e.userID {
		t.Errorf("userinfo: %d %s", resp.StatusCode, b)
	}
	resp, b = postValues(t, s.URL+"/oauth/introspect", url.Values{"token": {tok.AccessToken}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret))
	if in := decodeObject(t, b); resp.StatusCode != http.StatusOK || in["active"] != true || in["sub"] != e.userID || in["client_id"] != e.conf.ClientID {
		t.Errorf("introspect: %d %s", resp.StatusCode, b)
	}

	// The device code is single use.
	status, body2 := e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
	wantOAuthError(t, "second redemption", status, body2, http.StatusBadRequest, "invalid_grant")

	// Refresh rotates; revoking the refresh token ends the grant.
	nt, err := refresh(e.conf, tok.RefreshToken)
	if err != nil || nt.AccessToken == "" || nt.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v %v", nt, err)
	}
	if _, err := refresh(e.conf, tok.RefreshToken); err == nil {
		t.Error("the rotated refresh token was accepted again")
	}

	// The app is listed under Authorized apps.
	if _, page := get(t, c, s.URL+"/authorized"); !strings.Contains(page, "Living Room TV") {
		t.Error("/authorized does not list the device app")
	}

	// Counted as device_code (the first token; refresh is refresh_token).
	_, metrics := get(t, http.DefaultClient, s.URL+"/metrics")
	if !strings.Contains(metrics, `latchkey_tokens_issued_total{grant="device_code"} 1`) {
		t.Error(`metrics lack latchkey_tokens_issued_total{grant="device_code"} 1`)
	}
}

// TestE2EDevicePublicClientJSON: a public client names itself by
// client_id, posts JSON to the device authorization endpoint and gets
// tokens without a secret.
func TestE2EDevicePublicClientJSON(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, nil)
	resp, b := call(t, http.MethodPost, e.s.URL+"/oauth/device_authorization", "application/json",
		[]byte(`{"client_id":"`+e.publicID+`","scope":["openid","offline_access"]}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d %s", resp.StatusCode, b)
	}
	da := decodeObject(t, b)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	code := da["device_code"].(string)
	status, body := e.poll(t, e.publicID, "", code)
	wantOAuthError(t, "poll before approval", status, body, http.StatusBadRequest, "authorization_pending")
	e.approve(t, da["user_code"].(string), "allow")
	status, body = e.poll(t, e.publicID, "", code)
	if status != http.StatusOK || body["access_token"] == nil || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Fatalf("token: %d %v", status, body)
	}
}

// TestDeviceFlowBadInput: each refusal is the RFC's error code in RFC 6749
// §5.2 form, never a 5xx.
func TestDeviceFlowBadInput(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, func(c *config.Config) { c.RateLimits.LoginPerMinute = 3 })
	s := e.s
	devAuth := s.URL + "/oauth/device_authorization"
	post := func(t *testing.T, v url.Values, prepare func(*http.Request)) (int, map[string]any) {
		t.Helper()
		resp, b := postValues(t, devAuth, v, prepare)
		return resp.StatusCode, decodeObject(t, b)
	}

	t.Run("device authorization refusals", func(t *testing.T) {
		cases := []struct {
			name    string
			v       url.Values
			prepare func(*http.Request)
			status  int
			code    string
		}{
			{"unknown client", url.Values{"client_id": {"no-such-client"}}, nil, 401, "invalid_client"},
			{"wrong secret", nil, basicAuth(e.conf.ClientID, "wrong"), 401, "invalid_client"},
			{"missing client", url.Values{"scope": {"openid"}}, nil, 401, "invalid_client"},
			{"client without the grant", url.Values{"scope": {"openid"}}, basicAuth(e.webID, e.webSecret), 400, "unauthorized_client"},
			{"scope the client may not ask", url.Values{"scope": {"openid keys:write"}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret), 400, "invalid_scope"},
			{"repeated parameter", url.Values{"scope": {"openid", "profile"}}, basicAuth(e.conf.ClientID, e.conf.ClientSecret), 400, "invalid_request"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				v := tc.v
				if v == nil {
					v = url.Values{"scope": {"openid"}}
				}
				status, body := post(t, v, tc.prepare)
				wantOAuthError(t, tc.name, status, body, tc.status, tc.code)
			})
		}
		for _, tc := range []struct{ name, ct, body string }{
			{"malformed JSON", "application/json", `{"client_id": "` + e.publicID + `",`},
			{"JSON array", "application/json", `["client_id"]`},
			{"wrong content type", "text/plain", "client_id=" + e.publicID},
			{"no content type", "", "client_id=" + e.publicID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, b := call(t, http.MethodPost, devAuth, tc.ct, []byte(tc.body), nil)
				wantOAuthError(t, tc.name, resp.StatusCode, decodeObject(t, b), 400, "invalid_request")
			})
		}
		resp, _ := call(t, http.MethodGet, devAuth, "", nil, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404 or 405", devAuth, resp.StatusCode)
		}
	})

	t.Run("token refusals", func(t *testing.T) {
		da := e.deviceAuth(t)
		status, body := e.poll(t, e.webID, e.webSecret, da.DeviceCode)
		wantOAuthError(t, "client without the grant", status, body, 400, "unauthorized_client")
		status, body = e.poll(t, e.otherID, e.otherSec, da.DeviceCode)
		wantOAuthError(t, "another client's device code", status, body, 400, "invalid_grant")
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, "not-a-device-code")
		wantOAuthError(t, "unknown device code", status, body, 400, "invalid_grant")
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, "")
		wantOAuthError(t, "missing device code", status, body, 400, "invalid_request")
		status, body = e.poll(t, "no-such-client", "", da.DeviceCode)
		wantOAuthError(t, "unknown client", status, body, 401, "invalid_client")
		resp, b := call(t, http.MethodPost, s.URL+"/oauth/token", "application/json",
			[]byte(`{"grant_type":"`+oauth.GrantTypeDeviceCode+`","device_code":`), basicAuth(e.conf.ClientID, e.conf.ClientSecret))
		wantOAuthError(t, "malformed JSON", resp.StatusCode, decodeObject(t, b), 400, "invalid_request")
		// The other client's attempt spent nothing: the right one still waits.
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		wantOAuthError(t, "the owner's poll", status, body, 400, "authorization_pending")
	})

	t.Run("polling too fast is slow_down, and the interval grows by 5 s", func(t *testing.T) {
		da := e.deviceAuth(t)
		status, body := e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		wantOAuthError(t, "first poll", status, body, 400, "authorization_pending")
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		wantOAuthError(t, "second poll at once", status, body, 400, "slow_down")
		if d, _ := body["error_description"].(string); !strings.Contains(d, "6 seconds") {
			t.Errorf("slow_down description %q, want the new interval (6 seconds)", d)
		}
		time.Sleep(1100 * time.Millisecond) // past the old interval, within the new
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		wantOAuthError(t, "poll after 1 s", status, body, 400, "slow_down")
		if d, _ := body["error_description"].(string); !strings.Contains(d, "11 seconds") {
			t.Errorf("slow_down description %q, want 11 seconds", d)
		}
		// Approved, the tokens come at once, however fast the poll.
		e.approve(t, da.UserCode, "allow")
		status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		if status != http.StatusOK || body["access_token"] == nil {
			t.Fatalf("poll after approval: %d %v", status, body)
		}
	})

	t.Run("denied is access_denied, through x/oauth2 too", func(t *testing.T) {
		da := e.deviceAuth(t)
		c := e.signedIn(t)
		_, consent := e.submitCode(t, c, da.UserCode)
		resp, body := e.decide(t, c, consent, "deny")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Access denied") {
			t.Fatalf("deny: %d\n%s", resp.StatusCode, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := e.conf.DeviceAccessToken(ctx, da)
		wantTokenError(t, err, http.StatusBadRequest, "access_denied")
		// The code cannot be decided again.
		resp, page := e.submitCode(t, c, da.UserCode)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already used") {
			t.Errorf("a decided code on /device: %d\n%s", resp.StatusCode, page)
		}
	})

	t.Run("a consent answer without its challenge or CSRF token", func(t *testing.T) {
		da := e.deviceAuth(t)
		c := e.signedIn(t)
		_, consent := e.submitCode(t, c, da.UserCode)
		resp, body := postForm(t, c, s.URL+"/device/consent", url.Values{
			"csrf_token": {formValue(t, csrfRe, consent)}, "challenge": {"forged"}, "decision": {"allow"},
		}, s.URL)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "out of date") {
			t.Errorf("forged challenge: %d\n%s", resp.StatusCode, body)
		}
		resp, _ = postForm(t, c, s.URL+"/device/consent", url.Values{
			"challenge": {formValue(t, challengeRe, consent)}, "decision": {"allow"},
		}, s.URL)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("no CSRF token: status %d, want 403", resp.StatusCode)
		}
		status, body2 := e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
		wantOAuthError(t, "after the refused answers", status, body2, 400, "authorization_pending")
	})

	t.Run("wrong user codes are refused, then throttled", func(t *testing.T) {
		c := e.signedIn(t)
		for i, typed := range []string{"BBBB-BBBB", "not a code", "AEIO-UAEI"} {
			resp, page := e.submitCode(t, c, typed)
			m := deviceFieldErrRe.FindStringSubmatch(page)
			if resp.StatusCode != http.StatusBadRequest || m == nil || !strings.Contains(m[1], "not valid") {
				t.Fatalf("wrong code %d: status %d, want 400 with the error beside the field\n%s", i, resp.StatusCode, page)
			}
		}
		// login_per_minute is 3: the fourth try is refused before any
		// lookup, even with a right code.
		da := e.deviceAuth(t)
		resp, page := e.submitCode(t, c, da.UserCode)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many wrong codes") {
			t.Fatalf("after 3 wrong codes: status %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), page)
		}
		// The count is per person and per network: a second browser on the
		// same network is refused too.
		other := e.signedIn(t)
		if resp, _ := e.submitCode(t, other, da.UserCode); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("a second browser from the same network: status %d, want 429 (per-network count)", resp.StatusCode)
		}
	})
}

// TestDeviceFlowExpired: a device code past its lifetime is expired_token
// at the token endpoint, and its user code a clear page on /device.
func TestDeviceFlowExpired(t *testing.T) {
	t.Parallel()
	e := newDeviceEnv(t, func(c *config.Config) { c.OAuth.DeviceCodeLifespan = config.Duration(time.Second) })
	da := e.deviceAuth(t)
	late := e.deviceAuth(t)
	c := e.signedIn(t)
	_, consent := e.submitCode(t, c, late.UserCode) // the page is shown in time…
	time.Sleep(1100 * time.Millisecond)
	status, body := e.poll(t, e.conf.ClientID, e.conf.ClientSecret, da.DeviceCode)
	wantOAuthError(t, "expired device code", status, body, 400, "expired_token")
	resp, page := e.submitCode(t, c, da.UserCode)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "This code has expired") {
		t.Errorf("expired user code: %d\n%s", resp.StatusCode, page)
	}
	resp, page = e.decide(t, c, consent, "allow") // …and answered too late.
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "This code has expired") {
		t.Errorf("allowing after expiry: %d\n%s", resp.StatusCode, page)
	}
	status, body = e.poll(t, e.conf.ClientID, e.conf.ClientSecret, late.DeviceCode)
	wantOAuthError(t, "expired, approved too late", status, body, 400, "expired_token")
}

// jwtClaims decodes a JWS's payload without verifying it (the code-flow
// tests verify signatures; here only the claims matter).
func jwtClaims(t testing.TB, jws string) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
