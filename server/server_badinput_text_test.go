package server_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/servertest"
)

// textServer starts the whole server on backend b with one user, and
// returns it with that user's Basic Authorization header.
func textServer(t *testing.T, b servertest.Backend) (*testServer, string) {
	t.Helper()
	s := newTestServerWith(t, func(c *config.Config) { b.Configure(t, c) })
	s.CreateUser(t, "nina", "nina-password-123")
	return s, basicHeader("nina", "nina-password-123")
}

// wantInvalidRequest asserts the SPEC §3.5 answer to bad text.
func wantInvalidRequest(t *testing.T, what string, code int, body map[string]any) {
	t.Helper()
	msg, _ := body["message"].(string)
	if code != 400 || body["error"] != "invalid_request" || !strings.Contains(msg, "NUL byte or is not valid UTF-8") {
		t.Errorf("%s: %d %v, want 400 invalid_request", what, code, body)
	}
}

// TestNULInKeyHandlePathIs400: a NUL byte (or invalid UTF-8) in a key
// handle in the path answered 500 server_error on PostgreSQL, which refuses
// such text (SQLite stores it); on every backend it is 400 invalid_request.
func TestNULInKeyHandlePathIs400(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s, pw := textServer(t, b)
			if code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"abc"}`); code != 201 {
				t.Fatalf("create: %d %v", code, k)
			}
			for _, tc := range []struct{ method, path, body string }{
				{"GET", "/user/keys/ab%00c", ""},
				{"GET", "/user/keys/ab%FFc", ""},
				{"PATCH", "/user/keys/ab%00c", `{"alias":"x"}`},
				{"DELETE", "/user/keys/abc%00", ""},
				{"POST", "/user/keys/abc%00/rotate", ""},
				{"GET", "/user/keys?handle=abc%00", ""},
			} {
				code, body, _ := apiCall(t, tc.method, s.URL+tc.path, pw, tc.body)
				wantInvalidRequest(t, tc.method+" "+tc.path, code, body)
			}
			if code, k, _ := apiCall(t, "GET", s.URL+"/user/keys/abc", pw, ""); code != 200 || k["status"] != "active" {
				t.Fatalf("the key after the bad requests: %d %v", code, k)
			}
		})
	}
}

// TestNULInKeyAliasIs400: "alias": "a\u0000b" (and any JSON string with a
// NUL or invalid UTF-8, nested or as a key) answered 500 on PostgreSQL; on
// every backend it is 400 invalid_request and nothing is written.
func TestNULInKeyAliasIs400(t *testing.T) {
	t.Parallel()
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s, pw := textServer(t, b)
			for _, body := range []string{
				`{"handle":"k1","alias":"a\u0000b"}`,
				`{"handle":"k1\u0000"}`,
				`{"handle":"k1","scopes":["keys:read\u0000"]}`,
				"{\"handle\":\"k1\",\"alias\":\"a\xffb\"}",
			} {
				code, m, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, body)
				wantInvalidRequest(t, "create "+body, code, m)
			}
			if code, l, _ := apiCall(t, "GET", s.URL+"/user/keys", pw, ""); code != 200 || len(l["keys"].([]any)) != 0 {
				t.Fatalf("keys after refused creates: %d %v", code, l)
			}
			if code, k, _ := apiCall(t, "POST", s.URL+"/user/keys", pw, `{"handle":"k1","alias":"Zoë's key"}`); code != 201 {
				t.Fatalf("create: %d %v", code, k)
			}
			code, m, _ := apiCall(t, "PATCH", s.URL+"/user/keys/k1", pw, `{"alias":"a\u0000b"}`)
			wantInvalidRequest(t, "patch", code, m)
			if code, k, _ := apiCall(t, "GET", s.URL+"/user/keys/k1", pw, ""); code != 200 || k["alias"] != "Zoë's key" {
				t.Fatalf("the key after a refused patch: %d %v", code, k)
			}
		})
	}
}
