package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestACRValuesStepUp: acr_values (OpenID Connect Core §3.1.2.1) asking
// for "2" from a session that signed in with a password alone sends a
// person who has a second factor through the second step — their session
// stays signed in meanwhile — and the ID token then says acr "2", amr
// ["pwd","otp"]; with prompt=none it is login_required. acr_values "1"
// asks for nothing more, and a person with no second factor is not
// stopped: acr_values is voluntary (§5.5.1.1), so acr stays "1".
func TestACRValuesStepUp(t *testing.T) {
	t.Parallel()
	s, clientID, clientSecret := serverWithClient(t)
	const bobPassword = "bob-password-12345"
	s.CreateUser(t, "bob", bobPassword)

	// No second factor: acr_values=2 is answered with what there is.
	bob := browser(t)
	s.Login(t, bob, "bob", bobPassword)
	wantAuthContext(t, idTokenAfter(t, s, bob, newOIDCRun(s, clientID, url.Values{"acr_values": {"2"}}), clientID, clientSecret), "1", "pwd")

	// Alice signed in with her password, then turned on an authenticator:
	// this session is one factor.
	c := browser(t)
	s.Login(t, c, "alice", alicePassword)
	_, codes := enrolTOTP(t, s, c)
	wantAuthContext(t, idTokenAfter(t, s, c, newOIDCRun(s, clientID, url.Values{"acr_values": {"1"}}), clientID, clientSecret), "1", "pwd")

	none := newOIDCRun(s, clientID, url.Values{"acr_values": {"2"}, "prompt": {"none"}})
	resp, _ := get(t, c, none.url)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), redirectURI) || loc.Query().Get("error") != "login_required" {
		t.Fatalf("acr_values=2 prompt=none from one factor: %d %s, want login_required", resp.StatusCode, loc)
	}

	run := newOIDCRun(s, clientID, url.Values{"acr_values": {"phr 2"}})
	resp, _ = get(t, c, run.url)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/two-factor" {
		t.Fatalf("acr_values=2 from one factor: %d %s, want the second step", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Asked, not yet answered: still signed in (a link cannot sign anyone out).
	if resp, _ := get(t, c, s.URL+"/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/account during the step-up: %d, want still signed in", resp.StatusCode)
	}
	resp, _ = secondStep(t, s, c, codes[0])
	next := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(next, "/oauth/authorize?") || !strings.Contains(next, "acr_values=phr+2") {
		t.Fatalf("second step: %d %s, want back to the authorization request", resp.StatusCode, next)
	}
	run.url = s.URL + next
	wantAuthContext(t, idTokenAfter(t, s, c, run, clientID, clientSecret), "2", "pwd", "otp")

	// Two factors now: acr_values=2 goes straight through.
	wantAuthContext(t, idTokenAfter(t, s, c, newOIDCRun(s, clientID, url.Values{"acr_values": {"2"}}), clientID, clientSecret), "2", "pwd", "otp")
}
