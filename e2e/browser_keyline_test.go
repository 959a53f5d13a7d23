package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserKeyLine: a key rotated with a grace period stays one row in
// the list ("rotating — the previous key stops in 59 minutes"), revoking it stops
// the previous key too, and the revoked key can be deleted, which frees
// its name for a new key.
func TestBrowserKeyLine(t *testing.T) {
	chromiumPath(t)
	s := newTestServer(t)
	const password = "lena-long-password-2026"
	s.CreateUser(t, "lena", password)
	b := newChrome(t, s.URL, browserTimeout)
	b.open("/login?next=/keys")
	b.fill("#username", "lena", "#password", password)
	b.click(`form[action="/login"] button[type="submit"]`)
	b.wantAt("/keys")

	b.fill("#handle", "line")
	if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("create: %d", resp.Status)
	}
	oldKey := b.value("#new-key")
	b.open("/keys/line")
	b.fill("#grace", "3600")
	if resp := b.click(`form[action="/keys/line/rotate"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("rotate: %d", resp.Status)
	}
	newKey := b.value("#new-key")
	for name, k := range map[string]string{"old key in its grace": oldKey, "new key": newKey} {
		if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+k, ""); code != http.StatusOK {
			t.Fatalf("%s: %d", name, code)
		}
	}

	b.open("/keys")
	if n := b.count(`.table tbody tr`); n != 1 {
		t.Fatalf("the list has %d rows after one rotation, want 1:\n%s", n, b.text(".table"))
	}
	b.wantText(".table", "line", "rotating — the previous key stops in ")
	if strings.Contains(b.text(".table"), "line~") {
		t.Fatal("the rotated-out key has a row of its own")
	}
	b.shoot("keys-rotating")

	b.open("/keys/line")
	b.wantText(".rotating", "The previous key stops in ")
	b.check("#confirm", true)
	b.click(`form[action="/keys/line/revoke"] button[type="submit"]`)
	b.wantText(".flash", "was revoked")
	for name, k := range map[string]string{"old key": oldKey, "new key": newKey} {
		if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+k, ""); code != http.StatusUnauthorized {
			t.Fatalf("%s after revoking the line: %d, want 401", name, code)
		}
	}

	b.open("/keys/line")
	b.wantText(".audit", "Revoked", "Created by rotation", "Created")
	b.shoot("key-revoked")
	b.check("#confirm-delete", true)
	b.click(`form[action="/keys/line/delete"] button[type="submit"]`)
	b.wantAt("/keys")
	b.wantText(".flash", "was deleted")
	if n := b.count(`.table tbody tr`); n != 0 {
		t.Fatalf("%d rows after deleting the only key", n)
	}
	b.fill("#handle", "line")
	if resp := b.click(`form[action="/keys"] button[type="submit"]`); resp.Status != http.StatusCreated {
		t.Fatalf("a new key with the deleted key's name: %d", resp.Status)
	}
	b.checkConsole()
}
