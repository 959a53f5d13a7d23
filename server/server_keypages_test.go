package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var newKeyRe = regexp.MustCompile(`id="new-key" type="text" value="([^"]+)"`)

// TestKeysPages drives /keys as a browser without JavaScript would: create
// a key, read it once from the page, use it, rotate with no grace, revoke.
func TestKeysPages(t *testing.T) {
	s := newTestServer(t)
	s.CreateUser(t, "kim", "kim-password-12345")
	b := browser(t)
	if resp, _ := get(t, b, s.URL+"/keys"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=%2Fkeys") {
		t.Fatalf("anonymous /keys: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	s.Login(t, b, "kim", "kim-password-12345")
	resp, page := get(t, b, s.URL+"/keys")
	if resp.StatusCode != 200 || !strings.Contains(page, "You have no API keys yet") {
		t.Fatalf("empty /keys: %d\n%s", resp.StatusCode, page)
	}
	csrf := formValue(t, csrfRe, page)

	// Field errors are shown next to the field, values are kept.
	resp, page = postForm(t, b, s.URL+"/keys", url.Values{"csrf_token": {csrf}, "handle": {"bad handle!"}, "alias": {"kept alias"},
		"preset": {"read-write"}, "environment": {"live"}, "expires": {"30d"}}, s.URL)
	if resp.StatusCode != 400 || !strings.Contains(page, `id="handle-error"`) || !strings.Contains(page, `value="kept alias"`) {
		t.Fatalf("bad handle: %d\n%s", resp.StatusCode, page)
	}
	resp, page = postForm(t, b, s.URL+"/keys", url.Values{"csrf_token": {csrf}, "handle": {"deploy"}, "preset": {"custom"},
		"environment": {"live"}, "expires": {"30d"}}, s.URL)
	if resp.StatusCode != 400 || !strings.Contains(page, "Tick at least one scope") {
		t.Fatalf("custom without scopes: %d", resp.StatusCode)
	}

	resp, page = postForm(t, b, s.URL+"/keys", url.Values{"csrf_token": {csrf}, "handle": {"deploy"}, "alias": {"Deploy bot"},
		"preset": {"custom"}, "scopes": {"users:read", "keys:read"}, "environment": {"test"}, "expires": {"30d"}}, s.URL)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	key := formValue(t, newKeyRe, page)
	if !strings.HasPrefix(key, "lk_test_") || !strings.Contains(page, "only time") || !strings.Contains(page, `data-copy-target="new-key"`) {
		t.Fatalf("show-once page:\n%s", page)
	}
	if code, me, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+key, ""); code != 200 || me["username"] != "kim" {
		t.Fatalf("key from the page: %d %v", code, me)
	}
	_, page = get(t, b, s.URL+"/keys")
	if strings.Contains(page, key) || !strings.Contains(page, key[:len("lk_test_")+4]) || !strings.Contains(page, "Deploy bot") {
		t.Fatalf("list must show the prefix only:\n%s", page)
	}
	if resp, _ := postForm(t, b, s.URL+"/keys", url.Values{"csrf_token": {csrf}, "handle": {"deploy"}, "preset": {"read-only"},
		"environment": {"live"}, "expires": {"never"}}, s.URL); resp.StatusCode != 400 {
		t.Fatalf("duplicate name: %d", resp.StatusCode)
	}
	if resp, _ := postForm(t, b, s.URL+"/keys", url.Values{"handle": {"nocsrf"}, "preset": {"read-only"}, "environment": {"live"}, "expires": {"never"}}, s.URL); resp.StatusCode != 403 {
		t.Fatalf("POST without CSRF token: %d", resp.StatusCode)
	}

	// Detail page with audit log, then rotate with no grace.
	resp, page = get(t, b, s.URL+"/keys/deploy")
	if resp.StatusCode != 200 || !strings.Contains(page, "<strong>Created</strong>") || !strings.Contains(page, "Rotate key") {
		t.Fatalf("detail: %d\n%s", resp.StatusCode, page)
	}
	resp, page = postForm(t, b, s.URL+"/keys/deploy/rotate", url.Values{"csrf_token": {csrf}, "grace": {"0"}}, s.URL)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("rotate: %d\n%s", resp.StatusCode, page)
	}
	rotated := formValue(t, newKeyRe, page)
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+key, ""); code != 401 {
		t.Fatalf("old key after rotation: %d", code)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+rotated, ""); code != 200 {
		t.Fatalf("rotated key: %d", code)
	}
	// Revoke needs the confirmation box.
	resp, _ = postForm(t, b, s.URL+"/keys/deploy/revoke", url.Values{"csrf_token": {csrf}}, s.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/keys/deploy" {
		t.Fatalf("revoke without confirmation: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+rotated, ""); code != 200 {
		t.Fatal("an unconfirmed revoke revoked the key")
	}
	resp, _ = postForm(t, b, s.URL+"/keys/deploy/revoke", url.Values{"csrf_token": {csrf}, "confirm": {"yes"}}, s.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if code, _, _ := apiCall(t, "GET", s.URL+"/v1/users/me", "Bearer "+rotated, ""); code != 401 {
		t.Fatalf("revoked key: %d", code)
	}
	_, page = get(t, b, s.URL+"/keys")
	if !strings.Contains(page, "was revoked") || !strings.Contains(page, "status-revoked") {
		t.Fatalf("flash and status after revoke:\n%s", page)
	}
	// Someone else's key is not found.
	s.CreateUser(t, "lee", "lee-password-12345")
	other := browser(t)
	s.Login(t, other, "lee", "lee-password-12345")
	if resp, _ := get(t, other, s.URL+"/keys/deploy"); resp.StatusCode != 404 {
		t.Fatalf("another user's key: %d", resp.StatusCode)
	}
}
