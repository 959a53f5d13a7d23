package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
)

// TestPasskeyEndpoints: passkeys are offered only at an issuer with a
// domain name; a ceremony answer without its begun state is refused (no
// sign-in, a JSON error for the page's script); registration needs a
// signed-in person.
func TestPasskeyEndpoints(t *testing.T) {
	t.Parallel()
	ip := newTestServer(t) // http://127.0.0.1:port: no relying party id
	if _, page := get(t, browser(t), ip.URL+"/login"); strings.Contains(page, "Sign in with a passkey") {
		t.Error("the login page offers passkeys at an IP-address issuer")
	}

	s := newTestServerWith(t, func(c *config.Config) {
		c.Server.Issuer = strings.Replace(c.Server.Issuer, "127.0.0.1", "localhost", 1)
	})
	base := s.URL
	c := browser(t)
	_, page := get(t, c, base+"/login")
	if !strings.Contains(page, "Sign in with a passkey") || !strings.Contains(page, `src="/static/passkey.js"`) {
		t.Fatal("the login page does not offer passkeys at a localhost issuer")
	}
	token := formValue(t, csrfRe, page)
	post := func(path, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", token)
		req.Header.Set("Origin", base)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post("/login/passkey/finish", `{"id":"x"}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error":"invalid_request"`) {
		t.Errorf("finish without a ceremony: %d %s, want 400 invalid_request", resp.StatusCode, body)
	}
	resp, body := post("/login/passkey/begin", `{}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"challenge"`) || !strings.Contains(body, `"userVerification":"required"`) {
		t.Errorf("begin a passwordless sign-in: %d %s", resp.StatusCode, body)
	}
	if resp, body := post("/login/passkey/finish", `{"id":"x","type":"public-key"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a garbage assertion: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, _ := post("/account/two-factor/passkeys/begin", `{}`); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("registration while signed out: %d, want a redirect to sign in", resp.StatusCode)
	}
}
