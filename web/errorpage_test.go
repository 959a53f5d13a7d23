package web

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/oauth"
)

// TestAuthorizeErrorPageForPeople: an authorization request that cannot
// go back to the app (unknown client, unregistered redirect URI) is shown
// as a page in the site layout — the signed-in person still in the header
// — with a sentence for people; the library's own words are only under
// "Technical details".
func TestAuthorizeErrorPageForPeople(t *testing.T) {
	f := newAuthorizeFixture(t)
	id := f.client(t, oauth.ClientSpec{Name: "Photo Printer"})
	c := f.signIn(t, "u-eve", "eve")
	tests := []struct {
		name, path, code, person string
	}{
		{"unknown client", authorizePath("no-such-client"), "invalid_client", "is not registered with Latchkey"},
		{"unregistered redirect URI", authorizePath(id, "redirect_uri", "https://evil.example/cb"), "invalid_request", "cannot accept"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, c, http.MethodGet, tc.path, nil)
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s, want a 400 page", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			head, details, ok := strings.Cut(body, `<details class="error-details">`)
			if !ok {
				t.Fatalf("no technical details:\n%s", body)
			}
			if !strings.Contains(head, "Signed in as <strong>eve</strong>") {
				t.Errorf("the header lost the signed-in person:\n%s", head)
			}
			if !strings.Contains(html.UnescapeString(head), tc.person) {
				t.Errorf("no sentence for people (%q):\n%s", tc.person, head)
			}
			// fosite's descriptions ("The request is missing a required
			// parameter…", "Client authentication failed (e.g., …)")
			// are technical detail.
			for _, lib := range []string{"Client authentication failed", "The request is missing", "redirect_uri", tc.code} {
				if strings.Contains(head, lib) {
					t.Errorf("%q shown outside the technical details:\n%s", lib, head)
				}
			}
			if !strings.Contains(details, "<code>"+tc.code+"</code>") {
				t.Errorf("the details lack the error code %s:\n%s", tc.code, details)
			}
		})
	}
}

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true}, // Chromium
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},                       // Firefox
		{"text/html, */*", true},
		{"application/xhtml+xml", true},
		{"", false},
		{"*/*", false}, // curl
		{"application/json", false},
		{"application/json, text/html;q=0.5", false},
		{"text/html, application/json", false}, // a tie goes to JSON
		{"text/html;q=0", false},
		{"text/html;q=0.5, */*", false},
		{"TEXT/HTML ; Q=1", true},
		{"text/html;q=abc", true}, // an unreadable weight counts as 1
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := PrefersHTML(r); got != tc.want {
			t.Errorf("PrefersHTML(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}
