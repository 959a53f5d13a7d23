package web

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/internal/smtptest"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

const acctPassword = "tangerine otter lamp"

// accountFixture is the account pages over SQLite, the real
// accounts.SelfService and a real SMTP server, mounted as the server
// mounts them: CSRF on every form.
type accountFixture struct {
	h      *Handler
	logout *recordingLogout
	db     *storage.DB
	self   *accounts.SelfService
	smtp   *smtptest.Server
	srv    *httptest.Server
}

func newAccountFixture(t *testing.T, devMail DevMailbox) *accountFixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "acct.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := &accountFixture{db: db, smtp: smtptest.Start(t, "", ""), logout: &recordingLogout{}}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	f.srv = httptest.NewServer(e)
	t.Cleanup(f.srv.Close)
	sender, err := mail.NewSMTP(f.smtp.URL(), "Latchkey <no-reply@example.test>")
	if err != nil {
		t.Fatal(err)
	}
	f.self, err = accounts.NewSelfService(db, accounts.SelfConfig{Sender: sender, BaseURL: f.srv.URL, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.self.Wait)
	key := func(b byte) []byte { return bytes.Repeat([]byte{'a' + b}, 32) }
	f.h, err = New(Config{
		CookieHashKey: key(0), CookieBlockKey: key(1), CSRFKey: key(2), Account: f.self, DevMail: devMail, Logout: f.logout, Sessions: db,
		Logger: slog.New(slog.DiscardHandler),
	}, nil, db)
	if err != nil {
		t.Fatal(err)
	}
	pages := e.Group("/", f.h.CSRF())
	pages.GET("/login", f.h.LoginForm)
	pages.POST("/login", f.h.Login)
	pages.GET("/forgot-password", f.h.ForgotForm)
	pages.POST("/forgot-password", f.h.Forgot)
	pages.GET(accounts.ResetPath, f.h.ResetForm)
	pages.POST(accounts.ResetPath, f.h.Reset)
	pages.GET(accounts.VerifyPath, f.h.VerifyForm)
	pages.POST(accounts.VerifyPath, f.h.VerifyEmail)
	pages.GET("/dev/mail", f.h.DevMail)
	user := pages.Group("/", f.h.RequireUser())
	user.GET("/account", f.h.Account)
	user.POST("/account/profile", f.h.UpdateProfile)
	user.POST("/account/password", f.h.ChangePassword)
	user.POST("/account/verify-email", f.h.SendVerification)
	user.POST("/account/sessions/end", f.h.EndOtherSession)
	user.POST("/account/delete", f.h.DeleteAccount)
	pages.GET(DeletedPath, f.h.AccountDeleted)
	return f
}

func (f *accountFixture) createUser(t *testing.T, username, email string) *storage.User {
	t.Helper()
	u, err := accounts.New(f.db, accounts.Config{}).Create(t.Context(), accounts.NewUser{Username: username, Email: email, Password: acctPassword})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   *testing.T
	f   *accountFixture
	c   *http.Client
	ip  string
	csr string
}

func (f *accountFixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfFieldRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// get fetches path and remembers the page's CSRF token.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.f.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfFieldRe.FindStringSubmatch(string(body)); m != nil {
		b.csr = html.UnescapeString(m[1])
	}
	return resp.StatusCode, string(body)
}

// post submits form from the page last fetched (its CSRF token added).
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form.Get("csrf_token") == "" && b.csr != "" {
		form.Set("csrf_token", b.csr)
	}
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// login signs the browser in with username and password and reports success.
func (b *browser) login(username, password string) bool {
	b.t.Helper()
	b.get("/login")
	resp, _ := b.post("/login", url.Values{"username": {username}, "password": {password}})
	return resp.StatusCode == http.StatusSeeOther
}

// signedIn reports whether /account answers the page (not a redirect to login).
func (b *browser) signedIn() bool {
	b.t.Helper()
	status, _ := b.get("/account")
	return status == http.StatusOK
}

// linkPath returns the path and query of the link in the next mail.
func (f *accountFixture) nextLink(t *testing.T, to, path string) string {
	t.Helper()
	f.self.Wait()
	m := f.smtp.Next(t, 5*time.Second)
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("mail to %v, want %s", m.To, to)
	}
	link := m.Link(path + "?token=")
	if link == "" || !strings.Contains(m.HTML, html.EscapeString(link)) {
		t.Fatalf("no %s link in both parts of:\n%s", path, m.Raw)
	}
	return strings.TrimPrefix(link, f.srv.URL)
}

func wantStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// recordingLogout records whose sessions were reported ended (the
// back-channel logout hook).
type recordingLogout struct {
	mu       sync.Mutex
	ended    []string
	sessions []string
	revoked  []string
}

func (l *recordingLogout) ParseLogout(context.Context, url.Values) (*oauth.LogoutRequest, error) {
	return nil, errors.New("not in this test")
}

func (l *recordingLogout) SessionsEnded(_ context.Context, userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = append(l.ended, userID)
}

func (l *recordingLogout) SessionEnded(_ context.Context, userID, sid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions = append(l.sessions, userID+"/"+sid)
}

func (l *recordingLogout) GrantRevoked(_ context.Context, userID, clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.revoked = append(l.revoked, userID+"/"+clientID)
}

// calls returns copies of what was reported: sessions ended one by one
// (user/sid) and grants revoked (user/client).
func (l *recordingLogout) calls() (sessions, revoked []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sessions...), append([]string(nil), l.revoked...)
}

func (l *recordingLogout) SessionLive(context.Context, *oauth.LogoutRequest) (bool, error) {
	return false, nil
}

// endedFor reports whether SessionsEnded was called for userID.
func (l *recordingLogout) endedFor(userID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.ended {
		if id == userID {
			return true
		}
	}
	return false
}
