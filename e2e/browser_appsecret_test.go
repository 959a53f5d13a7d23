package e2e

import (
	"net/http"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserAppSecretGrace (issue 13 item 4), in headless Chromium: the
// owner rotates an app's secret with an hour's grace, and both secrets
// work at /oauth/token; the app's page says until when the previous one
// works; ending the grace there makes the old secret refused while the
// new one and the token issued before the rotation keep working. Deleting
// the app asks for its name first: a wrong name is refused next to the
// field and the app stays; the right one deletes it.
func TestBrowserAppSecretGrace(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	const password = "gus-long-password-2026"
	u := s.CreateUser(t, "gus", password)
	id, oldSecret := s.CreateClient(t, oauth.ClientSpec{Name: "Gus Worker", OwnerID: u.ID, GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}})
	b := newChrome(t, s.URL, browserTimeout)
	ctx := b.ctx
	cc := func(secret string) *clientcredentials.Config {
		return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/oauth/token", Scopes: []string{"keys:verify"}}
	}
	held, err := cc(oldSecret).Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials before the rotation: %v", err)
	}

	b.open("/login")
	b.fill("#username", "gus", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.open("/apps/" + id)
	if n := b.count("#previous-secret"); n != 0 {
		t.Fatal("a previous secret is shown before any rotation")
	}

	// Rotate with an hour's grace.
	b.fill("#grace", "3600")
	b.check("#confirm-rotate", true)
	b.click(`form[action="/apps/` + id + `/rotate"] button[type="submit"]`)
	b.wantText(".flash", "The old secret keeps working until")
	newSecret := b.value("#client-secret")
	if newSecret == "" || newSecret == oldSecret {
		t.Fatal("the rotation showed no new secret")
	}
	b.shoot("app-secret-grace")
	for what, secret := range map[string]string{"new secret": newSecret, "old secret in its grace": oldSecret} {
		if _, err := cc(secret).Token(ctx); err != nil {
			t.Fatalf("%s at /oauth/token: %v", what, err)
		}
	}

	// The page says until when; ending the grace there stops the old secret.
	b.click(`a.btn[href="/apps/` + id + `"]`) // Done
	b.wantText("#previous-secret", "The previous secret still works")
	b.shoot("app-in-grace")
	b.check("#confirm-end-grace", true)
	b.click(`form[action="/apps/` + id + `/end-grace"] button[type="submit"]`)
	b.wantAt("/apps/" + id)
	b.wantText(".flash", "no longer works")
	if n := b.count("#previous-secret"); n != 0 {
		t.Fatal("the previous secret is still shown after ending its grace")
	}
	_, err = cc(oldSecret).Token(ctx)
	wantOAuthError(t, "old secret after the grace was ended", err, "invalid_client")
	if _, err := cc(newSecret).Token(ctx); err != nil {
		t.Fatalf("new secret after the grace was ended: %v", err)
	}
	if st := tokenTest(t, s, held.AccessToken); st != http.StatusOK {
		t.Fatalf("the token issued before the rotation: %d, want 200", st)
	}

	// Delete asks for the name first.
	b.fill("#confirm-name", "Gus")
	if resp := b.click(`form[action="/apps/` + id + `/delete"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("delete with a wrong name: status %d, want 400", resp.Status)
	}
	b.wantText("#delete-error", "That is not the app’s name")
	b.shoot("app-delete-asks")
	if _, err := cc(newSecret).Token(ctx); err != nil {
		t.Fatalf("the app after a refused delete: %v", err)
	}
	b.fill("#confirm-name", "Gus Worker")
	b.click(`form[action="/apps/` + id + `/delete"] button[type="submit"]`)
	b.wantAt("/apps")
	b.wantText(".flash", "Deleted “Gus Worker”")
	_, err = cc(newSecret).Token(ctx)
	wantOAuthError(t, "secret of the deleted app", err, "invalid_client")
	b.checkConsole()
}
