package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const chromiumAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestUnknownPathsAnswerByAccept: an unknown path or method answers a
// browser (Accept prefers text/html) with the error page in the site
// layout and a script with the API's JSON error body; the API and
// protocol paths answer JSON whatever the client accepts.
func TestUnknownPathsAnswerByAccept(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, method, path, accept string
		status                     int
		page                       bool
		text                       string // in the page (the heading), or the JSON error code
	}{
		{"browser, unknown page", "GET", "/no-such-page", chromiumAccept, 404, true, "We couldn’t find that page"},
		{"browser, unknown method on a page", "DELETE", "/login", chromiumAccept, 405, true, "That action isn’t allowed here"},
		{"curl, unknown page", "GET", "/no-such-page", "*/*", 404, false, "not_found"},
		{"no Accept", "GET", "/no-such-page", "", 404, false, "not_found"},
		{"JSON client", "GET", "/no-such-page", "application/json", 404, false, "not_found"},
		{"browser, unknown API path", "GET", "/v1/nope", chromiumAccept, 404, false, "not_found"},
		{"browser, under /user/keys", "GET", "/user/keys/a/b", chromiumAccept, 404, false, "not_found"},
		{"browser, under /tokens", "GET", "/tokens/nope", chromiumAccept, 404, false, "not_found"},
		{"browser, GET /oauth/token", "GET", "/oauth/token", chromiumAccept, 405, false, "invalid_request"},
		{"browser, unknown /oauth path", "GET", "/oauth/nope", chromiumAccept, 404, false, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body, ct := string(raw), resp.Header.Get("Content-Type")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.page {
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, `<header class="site-header">`) ||
					!strings.Contains(body, tc.text) || !strings.Contains(body, "<summary>Technical details</summary>") {
					t.Fatalf("want the error page in the layout, got %s:\n%s", ct, body)
				}
				return
			}
			var m map[string]any
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(raw, &m) != nil || m["error"] != tc.text || m["message"] == "" {
				t.Fatalf("want a JSON error %q, got %s: %s", tc.text, ct, body)
			}
		})
	}
}
