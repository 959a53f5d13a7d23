package server_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/servertest"
)

// testServer is the whole Latchkey server on an httptest listener, built
// exactly as `latchkey serve` builds it (internal/servertest), over a fresh
// SQLite database or, through testBackends, PostgreSQL.
type testServer = servertest.Server

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	return servertest.New(t)
}

// newTestServerWith is newTestServer with configuration changes applied
// before the server is built (e.g. another key prefix, recoverable keys).
func newTestServerWith(t testing.TB, mutate func(*config.Config)) *testServer {
	t.Helper()
	return servertest.NewWith(t, mutate)
}

// startTestServer builds the server with configuration changes and a logger
// of the caller's choosing (a test may capture the logs).
func startTestServer(t testing.TB, mutate func(*config.Config), log *slog.Logger) *testServer {
	t.Helper()
	return servertest.Start(t, mutate, log)
}

// testBackends are the storage backends a suite runs against.
func testBackends(t testing.TB) []servertest.Backend {
	t.Helper()
	return servertest.Backends(t)
}

// The browser and client helpers live in internal/flowtest so the
// process-level tests in e2e/ drive servers the same way.
func browser(t testing.TB) *http.Client { t.Helper(); return flowtest.Browser(t) }

var (
	csrfRe      = flowtest.CSRFRe
	challengeRe = flowtest.ChallengeRe
)

func formValue(t testing.TB, re *regexp.Regexp, body string) string {
	t.Helper()
	return flowtest.FormValue(t, re, body)
}

func htmlUnescape(s string) string { return flowtest.HTMLUnescape(s) }

func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	return flowtest.Get(t, c, u)
}

func postForm(t testing.TB, c *http.Client, u string, v url.Values, origin string) (*http.Response, string) {
	t.Helper()
	return flowtest.PostForm(t, c, u, v, origin)
}

// clientToken gets a client_credentials access token for scope.
func clientToken(t testing.TB, s *testServer, id, secretValue, scope string) string {
	t.Helper()
	return flowtest.ClientToken(t, s.URL, id, secretValue, scope)
}

// apiCall sends one API request and decodes a JSON answer.
func apiCall(t testing.TB, method, u, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	return flowtest.APICall(t, method, u, auth, body)
}

func basicHeader(user, pass string) string { return flowtest.BasicHeader(user, pass) }
