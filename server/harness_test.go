package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// testServer is the whole Latchkey server on an httptest listener, wired
// exactly as `latchkey serve` wires it, over a fresh SQLite database (or
// PostgreSQL when LATCHKEY_TEST_POSTGRES_DSN is set and pg is true).
type testServer struct {
	*httptest.Server
	app *app
	URL string
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	return newTestServerWith(t, nil)
}

// newTestServerWith is newTestServer with configuration changes applied
// before the server is wired (e.g. another key prefix, recoverable keys).
func newTestServerWith(t testing.TB, mutate func(*config.Config)) *testServer {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("LATCHKEY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return startTestServer(t, mutate, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})))
}

// startTestServer wires the server with configuration changes and a logger
// of the caller's choosing (a test may capture the logs).
func startTestServer(t testing.TB, mutate func(*config.Config), log *slog.Logger) *testServer {
	t.Helper()
	ln := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ln.Listener.Addr().String()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Server.Issuer = issuer
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.handler()
	if err != nil {
		t.Fatal(err)
	}
	ln.Config.Handler = h
	ln.Start()
	t.Cleanup(func() {
		ln.Close()
		a.close()
	})
	return &testServer{Server: ln, app: a, URL: issuer}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// createUser stores a user with the given password and returns it.
func (s *testServer) createUser(t testing.TB, username, password string) *storage.User {
	t.Helper()
	hash, err := secret.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &storage.User{ID: uuid.NewString(), Username: username, Email: username + "@example.com", Name: "Test " + username, PasswordHash: hash}
	if err := s.app.db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// createClient registers a client and returns its id and secret.
func (s *testServer) createClient(t testing.TB, spec oauth.ClientSpec) (id, secretValue string) {
	t.Helper()
	rec, plain, err := s.app.provider.NewClientRecord(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.db.CreateClient(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec.ID, plain
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

// login signs the browser in through the real login form.
func (s *testServer) login(t testing.TB, c *http.Client, username, password string) {
	t.Helper()
	flowtest.Login(t, c, s.URL, username, password)
}

// authorize drives the browser from authURL through login and consent to
// the redirect back to the client (see flowtest.Authorize).
func (s *testServer) authorize(t testing.TB, c *http.Client, authURL, username, password, decision string) *url.URL {
	t.Helper()
	return flowtest.Authorize(t, c, s.URL, authURL, username, password, decision)
}

// clientToken gets a client_credentials access token for scope.
func clientToken(t testing.TB, s *testServer, id, secretValue, scope string) string {
	t.Helper()
	return flowtest.ClientToken(t, s.URL, id, secretValue, scope)
}
