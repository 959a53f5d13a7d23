package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestRequireUser: the group middleware redirects an anonymous request to
// the login page (back to the page's path after a GET, to / after any
// other method), and hands the signed-in user to the handler behind it.
func TestRequireUser(t *testing.T) {
	f := newPagesFixture(t)
	signedIn := f.user(t, "u-1", "carol")
	tests := []struct {
		name, method, path string
		signedIn           bool
		status             int
		location           string
	}{
		{"anonymous GET comes back to the path", http.MethodGet, "/apps/c-1/secret?x=1", false, http.StatusSeeOther, "/login?next=%2Fapps%2Fc-1%2Fsecret"},
		{"anonymous POST comes back to /", http.MethodPost, "/apps", false, http.StatusSeeOther, "/login?next=%2F"},
		{"anonymous POST to revoke an app", http.MethodPost, "/authorized/c-1/revoke", false, http.StatusSeeOther, "/login?next=%2F"},
		{"signed in", http.MethodGet, "/account", true, http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.anon(t)
			if tc.signedIn {
				c = signedIn
			}
			resp, _ := f.do(t, c, tc.method, tc.path, nil)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%s %s: %d → %q, want %d → %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
		})
	}
}

// TestSignedInUserOutsideGroupPanics: a page mounted without RequireUser is
// a wiring mistake that fails closed (no page for nobody in particular).
func TestSignedInUserOutsideGroupPanics(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/account", nil)
	defer func() {
		if recover() == nil {
			t.Fatal("signedInUser without RequireUser did not panic")
		}
	}()
	signedInUser(c)
}
