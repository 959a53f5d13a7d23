package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/config"
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

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so each hop of a flow can be inspected.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
var challengeRe = regexp.MustCompile(`name="challenge" value="([^"]+)"`)

// formValue extracts a hidden field from an HTML page.
func formValue(t testing.TB, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("field %s not found in page:\n%s", re, body)
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#61;", "=", "&amp;", "&", "&#34;", `"`, "&#39;", "'").Replace(s)
}

// get fetches url and returns the response with its body read.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// postForm posts a form as a browser on the same origin would.
func postForm(t testing.TB, c *http.Client, u string, v url.Values, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login signs the browser in through the real login form.
func (s *testServer) login(t testing.TB, c *http.Client, username, password string) {
	t.Helper()
	_, page := get(t, c, s.URL+"/login")
	tok := formValue(t, csrfRe, page)
	resp, body := postForm(t, c, s.URL+"/login", url.Values{"username": {username}, "password": {password}, "csrf_token": {tok}, "next": {"/"}}, s.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d\n%s", resp.StatusCode, body)
	}
}

// authorize drives the browser from the authorization URL through login
// (when needed) and consent (decision allow/deny) to the redirect back to
// the client, returning the final redirect URL.
func (s *testServer) authorize(t testing.TB, c *http.Client, authURL, username, password, decision string) *url.URL {
	t.Helper()
	next := authURL
	for i := 0; i < 10; i++ {
		resp, body := get(t, c, next)
		switch {
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
			s.login(t, c, username, password)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			next = s.URL + loc.Query().Get("next")
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `name="challenge"`):
			v := url.Values{"csrf_token": {formValue(t, csrfRe, body)}, "challenge": {formValue(t, challengeRe, body)}, "decision": {decision}}
			resp2, body2 := postForm(t, c, s.URL+"/oauth/consent", v, s.URL)
			if resp2.StatusCode < 300 || resp2.StatusCode > 399 {
				t.Fatalf("consent: status %d\n%s", resp2.StatusCode, body2)
			}
			u, _ := url.Parse(resp2.Header.Get("Location"))
			return u
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc := resp.Header.Get("Location")
			if strings.HasPrefix(loc, "/") {
				next = s.URL + loc
				continue
			}
			u, _ := url.Parse(loc)
			return u
		default:
			t.Fatalf("authorize: unexpected status %d at %s\n%s", resp.StatusCode, next, body)
		}
	}
	t.Fatal("authorize: too many hops")
	return nil
}

// clientToken gets a client_credentials access token for scope (RFC 6749
// §4.4) with HTTP Basic client authentication.
func clientToken(t testing.TB, s *testServer, id, secretValue, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secretValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("client_credentials: %d %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}
