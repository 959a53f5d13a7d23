package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// oidcRun is one authorization request of a test: its URL and verifier.
type oidcRun struct {
	url      string
	verifier string
}

func newOIDCRun(s *testServer, clientID string, extra url.Values) oidcRun {
	verifier := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid"}, "state": {"state-2fa-123"}, "nonce": {"nonce-2fa"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return oidcRun{url: s.URL + "/oauth/authorize?" + q.Encode(), verifier: verifier}
}

// idTokenAfter follows the authorization from the browser's current state
// (signed in) through consent to the code, exchanges it and returns the
// ID token's payload (its signature is checked by the code-flow tests).
func idTokenAfter(t *testing.T, s *testServer, c *http.Client, run oidcRun, clientID, clientSecret string) map[string]any {
	t.Helper()
	next := run.url
	var code string
	for i := 0; i < 6 && code == ""; i++ {
		resp, body := get(t, c, next)
		switch {
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="challenge"`):
			v := url.Values{"csrf_token": {formValue(t, csrfRe, body)}, "challenge": {formValue(t, challengeRe, body)}, "decision": {"allow"}}
			resp, body = postForm(t, c, s.URL+"/oauth/consent", v, s.URL)
			fallthrough
		case resp.StatusCode == http.StatusSeeOther:
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if strings.HasPrefix(loc.String(), redirectURI) {
				code = loc.Query().Get("code")
				break
			}
			if loc.Path == "/login" {
				t.Fatalf("sent to sign in again: %s", loc)
			}
			next = s.URL + loc.String()
		default:
			t.Fatalf("authorize: %d at %s\n%s", resp.StatusCode, next, body)
		}
	}
	if code == "" {
		t.Fatal("no authorization code")
	}
	cfg := oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(run.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, _ := tok.Extra("id_token").(string)
	parts := strings.Split(idt, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q", idt)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func wantAuthContext(t *testing.T, claims map[string]any, acr string, amr ...string) {
	t.Helper()
	var got []string
	list, _ := claims["amr"].([]any)
	for _, m := range list {
		s, _ := m.(string)
		got = append(got, s)
	}
	if claims["acr"] != acr || !slices.Equal(got, amr) {
		t.Errorf("id_token acr %v amr %v, want %s %v", claims["acr"], claims["amr"], acr, amr)
	}
}

// TestTwoFactorIDToken: the ID token says how the person signed in — amr
// ["pwd"] and acr "1" for a password alone, ["pwd","otp"] and "2" with an
// authenticator code — and max_age or prompt=login send a signed-in
// person through both steps again: after the password alone the
// authorization endpoint still sends them to sign in.
func TestTwoFactorIDToken(t *testing.T) {
	t.Parallel()
	s, clientID, clientSecret := serverWithClient(t)
	const bobPassword = "bob-password-12345"
	s.CreateUser(t, "bob", bobPassword)

	bob := browser(t)
	s.Login(t, bob, "bob", bobPassword)
	wantAuthContext(t, idTokenAfter(t, s, bob, newOIDCRun(s, clientID, nil), clientID, clientSecret), "1", "pwd")

	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	secret, codes := enrolTOTP(t, s, c)
	logout(t, s, c)
	passwordStep(t, s, c, "/")
	if resp, _ := secondStep(t, s, c, totpCode(t, secret, time.Now().Add(30*time.Second))); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second step: %d", resp.StatusCode)
	}
	claims := idTokenAfter(t, s, c, newOIDCRun(s, clientID, nil), clientID, clientSecret)
	wantAuthContext(t, claims, "2", "pwd", "otp")
	if at, _ := claims["auth_time"].(float64); at == 0 || time.Since(time.Unix(int64(at), 0)) > time.Minute {
		t.Errorf("auth_time = %v, want the sign-in's time", claims["auth_time"])
	}

	for i, extra := range []url.Values{{"max_age": {"0"}}, {"prompt": {"login"}}} {
		run := newOIDCRun(s, clientID, extra)
		resp, _ := get(t, c, run.url)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
			t.Fatalf("%v while signed in: %d %s, want a redirect to /login", extra, resp.StatusCode, loc)
		}
		next := loc.Query().Get("next")
		if got := passwordStep(t, s, c, next); got != "/login/two-factor" {
			t.Fatalf("%v: after the password: %s, want the second step", extra, got)
		}
		// The password alone is no sign-in for the authorization endpoint.
		if resp, _ := get(t, c, run.url); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
			t.Fatalf("%v: /oauth/authorize after the password alone: %d %s", extra, resp.StatusCode, resp.Header.Get("Location"))
		}
		passwordStep(t, s, c, next)
		resp, _ = secondStep(t, s, c, codes[i])
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
			t.Fatalf("%v: second step: %d %s, want back to %s", extra, resp.StatusCode, resp.Header.Get("Location"), next)
		}
		run.url = s.URL + next
		wantAuthContext(t, idTokenAfter(t, s, c, run, clientID, clientSecret), "2", "pwd", "otp")
	}
}
