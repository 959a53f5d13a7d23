package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey/latchkey/oauth"
)

// TestBrowserDeleteAccount (issue 13, account self-service), in headless
// Chromium: a person signs up, creates an API key and an app, exchanges
// the key for a token and the app's secret for another; deleting the
// account asks for the password and the username first; afterwards the
// key gets 401 at /v1/users/me, the app's secret is refused at
// /oauth/token, both tokens are inactive at introspection, another
// person's key still works, and signing up again with the same username
// works.
func TestBrowserDeleteAccount(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	const password = "violet harbour piano lantern"
	other := s.CreateUser(t, "otto", "otto-long-password-2026")
	rsID, rsSecret := s.CreateClient(t, oauth.ClientSpec{Name: "Resource server", OwnerID: other.ID, GrantTypes: []string{"client_credentials"}, Scopes: []string{"keys:verify"}, ResourceServer: true})
	b := newChrome(t, s.URL, browserTimeout)
	ctx := b.ctx

	signUp := func() {
		b.open("/signup")
		b.fill("#username", "dora", "#email", "dora@example.com", "#password", password)
		b.click(`form[action="/signup"] button[type="submit"]`)
	}
	signUp()
	b.open("/keys")
	b.wantAt("/keys")
	b.fill("#handle", "deploy")
	if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("create key: status %d", resp.Status)
	}
	key := b.value("#new-key")
	b.open("/apps")
	b.fill("#name", "Dora Worker")
	b.check(`input[name="grant_types"][value="client_credentials"]`, true)
	b.check(`input[name="grant_types"][value="authorization_code"]`, false)
	b.check(`input[name="grant_types"][value="refresh_token"]`, false)
	b.check(`input[name="scopes"][value="keys:verify"]`, true)
	b.click(`form[action="/apps"] button[type="submit"]`)
	clientID, secret := b.value("#client-id"), b.value("#client-secret")
	if clientID == "" || secret == "" {
		t.Fatal("the app's credentials were not shown")
	}
	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: s.URL + "/oauth/token", Scopes: []string{"keys:verify"}}
	appToken, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client_credentials before the deletion: %v", err)
	}
	if st, _, _ := apiCall(t, http.MethodGet, s.URL+"/v1/users/me", "Bearer "+key, ""); st != http.StatusOK {
		t.Fatalf("the key before the deletion: %d", st)
	}
	st, body, _ := apiCall(t, http.MethodPost, s.URL+"/tokens/generate", key, "")
	keyToken, _ := body["token"].(string)
	if st != http.StatusOK || keyToken == "" {
		t.Fatalf("/tokens/generate: %d %v", st, body)
	}
	active := func(tok string) bool {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rsID, rsSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %d %v", resp.StatusCode, err)
		}
		return m["active"] == true
	}
	if !active(appToken.AccessToken) || !active(keyToken) {
		t.Fatal("the tokens are not active before the deletion")
	}

	// The confirmation: the username typed wrong changes nothing.
	b.open("/account")
	b.fill("#delete_current_password", password, "#confirm_username", "dor")
	if resp := b.click(`form[action="/account/delete"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("delete with a wrong username: status %d, want 400", resp.Status)
	}
	b.wantText("#confirm_username-error", "That is not your username")
	b.shoot("account-delete-asks")
	b.fill("#delete_current_password", password, "#confirm_username", "dora")
	b.click(`form[action="/account/delete"] button[type="submit"]`)
	b.wantAt("/account/deleted")
	b.wantText("main", "Your account was deleted")
	b.shoot("account-deleted")

	if st, _, _ := apiCall(t, http.MethodGet, s.URL+"/v1/users/me", "Bearer "+key, ""); st != http.StatusUnauthorized {
		t.Errorf("the key after the deletion: %d, want 401", st)
	}
	_, err = cc.Token(ctx)
	wantOAuthError(t, "the app's secret after the deletion", err, "invalid_client")
	if active(appToken.AccessToken) || active(keyToken) {
		t.Error("a token of the deleted account is still active at introspection")
	}
	if tokenTest(t, s, keyToken) != http.StatusUnauthorized {
		t.Error("the token exchanged from the deleted key still works")
	}
	b.open("/account")
	b.wantAt("/login") // signed out
	if _, err := s.App.DB().GetUser(ctx, other.ID); err != nil {
		t.Errorf("another person after the deletion: %v", err)
	}

	// The username is free again.
	signUp()
	u, err := s.App.DB().GetUserByUsername(ctx, "dora")
	if err != nil {
		t.Fatalf("signing up again as dora: %v", err)
	}
	if keys, _ := s.App.DB().ListAPIKeys(ctx, u.ID); len(keys) != 0 {
		t.Errorf("the new account has keys: %+v", keys)
	}
	b.checkConsole()
}
