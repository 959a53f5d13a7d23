package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/apidoc"
)

// TestAPIDocs: the page renders the reference in the layout, escaped and
// script-free; without a reference it is a 404 page.
func TestAPIDocs(t *testing.T) {
	ref := apidoc.Reference{Title: "Latchkey API", Version: "1", Tags: []apidoc.Tag{{Name: "keys", Operations: []apidoc.Operation{{
		ID: "createKey", Method: "POST", Path: "/user/keys", Summary: "Create <b>a key</b>", Security: []string{"bearer"},
		Responses: []apidoc.Response{{Status: "400", Description: "bad", Body: &apidoc.Body{MediaTypes: []string{"application/json"}, Schema: "Error"}}},
	}}}}, Shared: []apidoc.Schema{{Name: "Error", Fields: []apidoc.Field{{Name: "error", Type: "string", Required: true, Enum: []string{"not_found"}}}}}}
	for _, tc := range []struct {
		name   string
		ref    *apidoc.Reference
		status int
		want   []string
	}{
		{"rendered", &ref, 200, []string{`id="op-createKey"`, "Create &lt;b&gt;a key&lt;/b&gt;", `href="#schema-Error"`, `id="schema-Error"`, "<code>not_found</code>", `href="/openapi.json"`}},
		{"no reference", nil, 404, []string{"not_found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _, _ := newSecHandler(t, false, func(c *Config) { c.APIReference = tc.ref })
			gin.SetMode(gin.ReleaseMode)
			e := gin.New()
			e.GET("/docs/api", h.CSRF(), h.APIDocs)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/api", nil))
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || strings.Contains(body, "<script") {
				t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}
