package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/twofactor"
)

// reauthTwoFactor is a TwoFactorService that records enrolments.
type reauthTwoFactor struct {
	TwoFactorService
	began int
}

func (f *reauthTwoFactor) Enabled(context.Context, string) (bool, error) { return false, nil }
func (f *reauthTwoFactor) BeginTOTP(context.Context, string, string) (*twofactor.Enrolment, error) {
	f.began++
	return nil, twofactor.ErrAlreadyOn // ends the handler without a page
}

// reauthPasskeys is a PasskeyService that records registrations begun.
type reauthPasskeys struct {
	PasskeyService
	began int
}

func (p *reauthPasskeys) BeginRegistration(context.Context, *storage.User) ([]byte, []byte, error) {
	p.began++
	return []byte(`{}`), []byte(`{}`), nil
}

// TestAddingASignInMethodNeedsRecentSignIn: an authenticator app or a
// passkey is added only within recentSignIn of signing in — a session left
// open (or stolen) hours later cannot plant a way back in.
func TestAddingASignInMethodNeedsRecentSignIn(t *testing.T) {
	tf, pk := &reauthTwoFactor{}, &reauthPasskeys{}
	f := newSecFixture(t, func(c *Config) { c.TwoFactor, c.Passkeys = tf, pk })
	e := gin.New()
	pages := e.Group("/", f.h.CSRF())
	pages.GET("/login", f.h.LoginForm)
	pages.POST("/login", f.h.Login)
	pages.POST("/account/two-factor/enrol", f.h.RequireUser(), f.h.EnrolTOTP)
	pages.POST("/account/two-factor/passkeys/begin", f.h.RequireUser(), f.h.BeginPasskeyRegistration)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	f.srv = srv

	c := f.browser(t)
	if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	attempt := func() (enrol, passkey *http.Response) {
		tok := f.token(t, c)
		enrol, _ = f.post(t, c, "/account/two-factor/enrol", url.Values{"csrf_token": {tok}})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/account/two-factor/passkeys/begin", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", tok)
		passkey, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		passkey.Body.Close()
		return enrol, passkey
	}

	f.now.Add(recentSignIn - time.Minute)
	enrol, passkey := attempt()
	if tf.began != 1 || pk.began != 1 || passkey.StatusCode != http.StatusOK {
		t.Fatalf("within %s of signing in: enrolments %d, passkey registrations %d (status %d), want 1 and 1 (200)",
			recentSignIn, tf.began, pk.began, passkey.StatusCode)
	}
	_ = enrol

	f.now.Add(2 * time.Minute)
	enrol, passkey = attempt()
	if tf.began != 1 || pk.began != 1 {
		t.Errorf("after %s: enrolments %d, passkey registrations %d, want none new", recentSignIn, tf.began, pk.began)
	}
	if enrol.StatusCode != http.StatusSeeOther || enrol.Header.Get("Location") != reauthPath {
		t.Errorf("enrol after %s: %d %q, want 303 to %s", recentSignIn, enrol.StatusCode, enrol.Header.Get("Location"), reauthPath)
	}
	if passkey.StatusCode != http.StatusForbidden {
		t.Errorf("passkey registration after %s: %d, want 403", recentSignIn, passkey.StatusCode)
	}

	// Signing in again opens the window again.
	if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %d", resp.StatusCode)
	}
	if _, passkey = attempt(); tf.began != 2 || passkey.StatusCode != http.StatusOK {
		t.Errorf("after signing in again: enrolments %d, passkey %d; want 2, 200", tf.began, passkey.StatusCode)
	}
}
