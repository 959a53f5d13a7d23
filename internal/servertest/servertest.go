// Package servertest runs the whole Latchkey server in-process for tests:
// built by server.Build exactly as `latchkey serve` builds it, on an
// httptest listener, over a fresh SQLite database or a fresh PostgreSQL
// schema (Backends). The flow tests in server/, the CLI tests in
// cmd/latchkey and the browser tests in e2e/ share it. It is test support
// only.
package servertest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/driver"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/openapitest"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/storage"
)

// Server is the whole Latchkey server on an httptest listener.
type Server struct {
	*httptest.Server
	// App is the built server: App.DB() reaches its store.
	App *server.App
	// URL is the issuer, http://127.0.0.1:port.
	URL string
}

// New starts a server with the default configuration over SQLite; the
// server logs warnings and errors to t (everything when LATCHKEY_TEST_LOG
// is set).
func New(t testing.TB) *Server {
	t.Helper()
	return NewWith(t, nil)
}

// NewWith is New with configuration changes applied before the server is
// built (e.g. another key prefix, recoverable keys, a backend's DSN).
func NewWith(t testing.TB, mutate func(*config.Config)) *Server {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("LATCHKEY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return Start(t, mutate, slog.New(slog.NewTextHandler(Writer{T: t}, &slog.HandlerOptions{Level: level})))
}

// Start builds the server with configuration changes and a logger of the
// caller's choosing (a test may capture the logs), and closes it when t
// ends.
func Start(t testing.TB, mutate func(*config.Config), log *slog.Logger) *Server {
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
	a, err := server.Build(context.Background(), cfg, server.Infra{Open: driver.Open, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// Every response passes the OpenAPI check before the client sees it:
	// a JSON answer the document does not describe fails the test.
	ln.Config.Handler = openapitest.MustNew(t).Handler(t, a.Handler())
	stopBus := a.RunBus()
	ln.Start()
	t.Cleanup(func() {
		ln.Close()
		stopBus()
		a.Close()
	})
	return &Server{Server: ln, App: a, URL: issuer}
}

// Writer writes each log line to T.Log.
type Writer struct{ T testing.TB }

// Write implements io.Writer.
func (w Writer) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// CreateUser stores a user with the given password (e-mail
// username@example.com, name "Test username") and returns it.
func (s *Server) CreateUser(t testing.TB, username, password string) *storage.User {
	t.Helper()
	hash, err := secret.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &storage.User{ID: uuid.NewString(), Username: username, Email: username + "@example.com", Name: "Test " + username, PasswordHash: hash}
	if err := s.App.DB().CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// CreateClient registers a client and returns its id and secret.
func (s *Server) CreateClient(t testing.TB, spec oauth.ClientSpec) (id, secretValue string) {
	t.Helper()
	rec, plain, err := s.App.CreateClient(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID, plain
}

// Login signs the browser in through the real login form.
func (s *Server) Login(t testing.TB, c *http.Client, username, password string) {
	t.Helper()
	flowtest.Login(t, c, s.URL, username, password)
}

// Authorize drives the browser from authURL through login and consent to
// the redirect back to the client (see flowtest.Authorize).
func (s *Server) Authorize(t testing.TB, c *http.Client, authURL, username, password, decision string) *url.URL {
	t.Helper()
	return flowtest.Authorize(t, c, s.URL, authURL, username, password, decision)
}
