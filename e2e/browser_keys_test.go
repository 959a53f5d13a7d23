package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserKeys: sign in, create a key, read it once from the page, use
// it with an HTTP client, rotate it with no grace (the old key is refused),
// revoke the new one (refused) — all in headless Chromium.
func TestBrowserKeys(t *testing.T) {
	chromiumPath(t) // skip early when there is no browser
	s := newTestServer(t)
	const password = "kay-long-password-2026"
	s.CreateUser(t, "kay", password)
	b := newChrome(t, s.URL, browserTimeout)

	b.open("/keys")
	b.wantAt("/login")
	b.fill("#username", "kay", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/keys")
	b.wantText(".empty", "You have no API keys yet")
	b.shoot("keys-empty")

	// A bad name is refused next to its field.
	b.fill("#handle", "not a name", "#alias", "Deploy bot")
	if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusBadRequest {
		t.Fatalf("bad name: status %d", resp.Status)
	}
	b.wantText("#handle-error", "letters, digits")
	b.shoot("keys-errors")

	b.fill("#handle", "deploy")
	b.check("#preset-custom", true)
	b.check(`input[name="scopes"][value="users:read"]`, true)
	b.check(`input[name="scopes"][value="keys:read"]`, true)
	if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("create: status %d", resp.Status)
	}
	b.wantText(".warning", "only time")
	key := b.value("#new-key")
	if !strings.HasPrefix(key, "lk_live_") {
		t.Fatalf("key on the page: %q", key)
	}
	b.shoot("key-created")
	b.press(`button[data-copy-target="new-key"]`)
	b.waitCopied("new-key")
	if code, me, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+key, ""); code != 200 || me["username"] != "kay" {
		t.Fatalf("the key from the page: %d %v", code, me)
	}

	// The list shows the prefix, never the key.
	b.open("/keys")
	b.wantText(".table", "deploy", "Deploy bot", key[:len("lk_live_")+4], "users:read", "active")
	if strings.Contains(b.text(".table"), key) {
		t.Fatal("the list shows the whole key")
	}
	b.shoot("keys")

	// Rotate with no grace: a new key shown once, the old one refused.
	b.open("/keys/deploy")
	b.wantText(".audit", "Created", "Used from a new IP address")
	b.shoot("key")
	if resp := b.click(`form[action="/keys/deploy/rotate"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("rotate: status %d", resp.Status)
	}
	rotated := b.value("#new-key")
	if rotated == "" || rotated == key {
		t.Fatal("rotation showed no new key")
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+key, ""); code != 401 {
		t.Fatalf("old key after rotation: %d, want 401", code)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+rotated, ""); code != 200 {
		t.Fatalf("rotated key: %d", code)
	}

	// Revoke with confirmation: refused from the next request on.
	b.open("/keys/deploy")
	b.check("#confirm", true)
	b.click(`form[action="/keys/deploy/revoke"] button[type="submit"]`)
	b.wantAt("/keys")
	b.wantText(".flash", "was revoked")
	if code, body, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+rotated, ""); code != 401 || body["error"] != "invalid_api_key" {
		t.Fatalf("revoked key: %d %v", code, body)
	}
	b.shoot("keys-revoked")
	b.checkConsole()
}
