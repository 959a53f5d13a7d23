package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/servertest"
)

// The browser tests drive an in-process server (internal/servertest), not
// a `latchkey serve` process: they need its store.
type testServer = servertest.Server

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	return servertest.New(t)
}

func browser(t testing.TB) *http.Client { t.Helper(); return flowtest.Browser(t) }

// apiCall sends one API request and decodes a JSON answer.
func apiCall(t testing.TB, method, u, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	return flowtest.APICall(t, method, u, auth, body)
}

var csrfRe = flowtest.CSRFRe

func formValue(t testing.TB, re *regexp.Regexp, body string) string {
	t.Helper()
	return flowtest.FormValue(t, re, body)
}

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	return flowtest.Get(t, c, u)
}

func postForm(t testing.TB, c *http.Client, u string, v url.Values, origin string) (*http.Response, string) {
	t.Helper()
	return flowtest.PostForm(t, c, u, v, origin)
}
