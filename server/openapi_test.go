package server_test

import (
	"github.com/latchkey/latchkey/config"

	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/openapitest"
)

// notJSON are the routes outside the web package that answer no JSON:
// static assets and the Prometheus text format.
var notJSON = []string{"GET /static/*path", "GET /metrics"}

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestOpenAPICoversEveryRoute: every JSON route registered in gin is in
// the OpenAPI document, and every documented operation is registered. The
// HTML pages (the Pages interface, package web) are not part of the API.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	// Dynamic registration on, so its routes are mounted too.
	s := newTestServerWith(t, func(c *config.Config) { c.OAuth.Registration.Mode = config.RegistrationOpen })
	doc := openapitest.MustNew(t).Doc()
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range s.App.Handler().(*gin.Engine).Routes() {
		key := r.Method + " " + ginParam.ReplaceAllString(r.Path, "{$1}")
		registered[key] = true
		if strings.Contains(r.Handler, "latchkey/server.Pages.") || slices.Contains(notJSON, key) {
			continue
		}
		if !documented[key] {
			t.Errorf("%s (%s) is not in apidoc/openapi.yaml", key, r.Handler)
		}
	}
	for key := range documented {
		if !registered[key] {
			t.Errorf("apidoc/openapi.yaml documents %s, which the server does not serve", key)
		}
	}
}

// TestOpenAPIServedAndRendered: GET /openapi.json serves the document as
// cacheable JSON naming this server, revalidates with its ETag, and
// /docs/api renders every operation without a script.
func TestOpenAPIServedAndRendered(t *testing.T) {
	s := newTestServer(t)
	resp, err := http.Get(s.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("GET /openapi.json: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(string(body), `"servers":[{"url":"`+s.URL+`"}]`) {
		t.Errorf("the served document does not name this server %s", s.URL)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/openapi.json", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	again, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", again.StatusCode)
	}

	resp, page := get(t, http.DefaultClient, s.URL+"/docs/api")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs/api: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(page, "<script") {
		t.Error("the reference page carries a script")
	}
	for _, want := range []string{`id="op-createKey"`, `<code>/user/keys/{handle}/rotate</code>`, "rate_limit_exceeded", `href="/openapi.json"`, "X-RateLimit-Remaining"} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs/api lacks %q", want)
		}
	}
	_, disco := get(t, http.DefaultClient, s.URL+"/.well-known/oauth-authorization-server")
	if !strings.Contains(disco, `"service_documentation":"`+s.URL+`/docs/api"`) {
		t.Errorf("discovery has no service_documentation pointing at /docs/api: %s", disco)
	}
}

// TestWorkspaceAnswersTheDocumentedShape exercises the one operation no
// other server test calls, so the harness checks its answer too.
func TestWorkspaceAnswersTheDocumentedShape(t *testing.T) {
	s := newTestServer(t)
	u := s.CreateUser(t, "wendy", "a-long-enough-password")
	status, body, h := apiCall(t, http.MethodGet, s.URL+"/v1/workspace", basicHeader("wendy", "a-long-enough-password"), "")
	if status != http.StatusOK || body["id"] != u.ID || body["role"] != "owner" || h.Get("X-RateLimit-Limit") == "" {
		t.Fatalf("GET /v1/workspace: %d %v", status, body)
	}
}
