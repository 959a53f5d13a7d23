package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

const secPassword = "correct-horse-battery-1"

// secFixture serves the login, logout and account pages behind the real
// CSRF middleware, with a controllable clock and captured logs.
type secFixture struct {
	h     *Handler
	store *fakeStore
	srv   *httptest.Server
	now   *fakeClock
	logs  *syncBuffer
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newSecHandler builds a Handler over a fake store; secure selects https
// cookies.
func newSecHandler(t *testing.T, secure bool, mutate func(*Config)) (*Handler, *fakeStore, *fakeClock, *syncBuffer) {
	t.Helper()
	key := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	store := newFakeStore()
	clock := &fakeClock{t: time.Now()}
	logs := &syncBuffer{}
	cfg := Config{
		CookieHashKey: key(0), CookieBlockKey: key(1), CSRFKey: key(2), Secure: secure,
		Clients: &fakeRegistrar{}, Scopes: []string{"openid"},
		ScopeDescription: func(s string) (string, bool) { return s, true },
		Logger:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:              clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := New(cfg, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	return h, store, clock, logs
}

func newSecFixture(t *testing.T, mutate func(*Config)) *secFixture {
	t.Helper()
	h, store, clock, logs := newSecHandler(t, false, mutate)
	hash, err := secret.HashPassword(secPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(context.Background(), &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	pages := e.Group("/", h.CSRF())
	pages.GET("/login", h.LoginForm)
	pages.POST("/login", h.Login)
	pages.POST("/logout", h.Logout)
	pages.GET("/account", h.RequireUser(), h.Account)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &secFixture{h: h, store: store, srv: srv, now: clock, logs: logs}
}

func (f *secFixture) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// token loads the login page and returns its CSRF token.
func (f *secFixture) token(t *testing.T, c *http.Client) string {
	t.Helper()
	resp, err := c.Get(f.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-CSRF-Token")
	if tok == "" {
		t.Fatal("no CSRF token on the login page")
	}
	return tok
}

func (f *secFixture) post(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *secFixture) login(t *testing.T, c *http.Client, username, password string) (*http.Response, string) {
	t.Helper()
	return f.post(t, c, "/login", url.Values{"username": {username}, "password": {password}, "csrf_token": {f.token(t, c)}})
}

func (f *secFixture) cookie(t *testing.T, c *http.Client, name string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(f.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// requestWith is a request carrying one cookie, for SessionUserID.
func requestWith(ck *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/user", nil)
	r.AddCookie(ck)
	return r
}

// TestLogoutEndsSessionForAPI (finding 2): after /logout, a copy of the
// session cookie is refused by SessionUserID — the JSON API's cookie
// authentication — exactly as the pages refuse it. Before the fix the API
// only decoded the cookie, so a stolen cookie outlived the logout.
func TestLogoutEndsSessionForAPI(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	if resp, body := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	stolen := *f.cookie(t, c, f.h.SessionCookie())
	if uid, ok := f.h.SessionUserID(requestWith(&stolen)); !ok || uid != "u-alice" {
		t.Fatalf("SessionUserID before logout = %q, %v", uid, ok)
	}
	f.now.Add(time.Millisecond)
	if resp, body := f.post(t, c, "/logout", url.Values{"csrf_token": {f.token(t, c)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d\n%s", resp.StatusCode, body)
	}
	if uid, ok := f.h.SessionUserID(requestWith(&stolen)); ok {
		t.Fatalf("the copied cookie still authenticates the API as %q after logout", uid)
	}
	if u, _ := f.h.currentUser(requestWith(&stolen)); u != nil {
		t.Fatal("the pages accept the copied cookie after logout")
	}
	// A new sign-in works again, on pages and API alike.
	if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after logout: %d", resp.StatusCode)
	}
	if _, ok := f.h.SessionUserID(requestWith(f.cookie(t, c, f.h.SessionCookie()))); !ok {
		t.Fatal("a fresh session is refused")
	}
}

// TestSessionAbsoluteLifetime: a session ends SessionLifetime after its
// login however it is used, for the pages and the API alike, and a
// session cookie older than its sliding 12 hours is refused by the
// server even if a copy of it survives in the browser.
func TestSessionAbsoluteLifetime(t *testing.T) {
	f := newSecFixture(t, func(c *Config) { c.SessionLifetime = 8 * time.Hour })
	c := f.browser(t)
	if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	ck := f.cookie(t, c, f.h.SessionCookie())
	account := func() int {
		resp, err := c.Get(f.srv.URL + "/account")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	f.now.Add(8*time.Hour - time.Minute)
	if _, ok := f.h.SessionUserID(requestWith(ck)); !ok || account() != http.StatusOK {
		t.Fatal("the session ended before its lifetime")
	}
	f.now.Add(time.Minute)
	if _, ok := f.h.SessionUserID(requestWith(ck)); ok {
		t.Fatal("the API accepts a session past its absolute lifetime")
	}
	if code := account(); code != http.StatusSeeOther {
		t.Fatalf("/account past the session's lifetime: %d, want a redirect to sign in", code)
	}
}

// TestSessionCookieRefusedPastSlidingLifetime: the server refuses session
// cookie values issued more than 12 hours ago (securecookie's timestamp),
// not only the browser. The codec checks the real clock, so the check
// uses a value encoded as if issued 13 hours ago.
func TestSessionCookieRefusedPastSlidingLifetime(t *testing.T) {
	h, store, _, _ := newSecHandler(t, false, func(c *Config) { c.SessionLifetime = 30 * 24 * time.Hour })
	_ = store.CreateUser(context.Background(), &storage.User{ID: "u-1", Username: "bob", CreatedAt: time.Now()})
	rec := httptest.NewRecorder()
	if err := h.startSession(rec, httptest.NewRequest("POST", "/login", nil), &storage.User{ID: "u-1"}, ""); err != nil {
		t.Fatal(err)
	}
	var fresh *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == h.SessionCookie() {
			fresh = ck
		}
	}
	if _, ok := h.SessionUserID(requestWith(fresh)); !ok {
		t.Fatal("a fresh cookie is refused")
	}
	// The same value, signed as if issued an hour ago (accepted: the
	// re-signing is right) and 13 hours ago (refused).
	hashKey := []byte(strings.Repeat("a", 32))
	if _, ok := h.SessionUserID(requestWith(&http.Cookie{Name: h.SessionCookie(), Value: agedCookie(t, h.SessionCookie(), fresh.Value, hashKey, time.Hour)})); !ok {
		t.Fatal("a session cookie issued an hour ago is refused")
	}
	if _, ok := h.SessionUserID(requestWith(&http.Cookie{Name: h.SessionCookie(), Value: agedCookie(t, h.SessionCookie(), fresh.Value, hashKey, 13*time.Hour)})); ok {
		t.Fatal("a session cookie issued 13 hours ago is accepted")
	}
}

// agedCookie re-signs a securecookie value with its timestamp moved age
// into the past (securecookie's format: base64("date|value|mac"), the MAC
// over "name|date|value").
func agedCookie(t *testing.T, name, value string, hashKey []byte, age time.Duration) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("not a securecookie value")
	}
	date, err := strconv.ParseInt(string(parts[0]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	signed := fmt.Sprintf("%s|%d|%s", name, date-int64(age.Seconds()), parts[1])
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte(signed))
	out := append([]byte(signed[len(name)+1:]+"|"), m.Sum(nil)...)
	return base64.URLEncoding.EncodeToString(out)
}

// TestPageBodiesBoundedBeforeCSRF (finding 4): a large multipart POST
// /login is refused (415) before anything parses it, and leaves no
// temporary file; a URL-encoded body over 64 KiB gets 413; the same holds
// for a cookie-authenticated API call (JSON error body). Before the fix
// the CSRF middleware parsed the multipart body into temporary files that
// nothing removed, and answered 403.
func TestPageBodiesBoundedBeforeCSRF(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if os.TempDir() != tmp {
		t.Fatalf("os.TempDir() = %q, want %q", os.TempDir(), tmp)
	}
	h, _, _, _ := newSecHandler(t, false, nil)
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	reached := false
	e.POST("/login", h.CSRF(), func(c *gin.Context) { reached = true; c.Status(http.StatusNoContent) })

	// 48 MiB: past the 32 MiB net/http keeps in memory, so a parser would
	// spool it to disk.
	const fileSize = 48 << 20
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("username", "alice")
		_ = mw.WriteField("csrf_token", "whatever")
		fw, err := mw.CreateFormFile("upload", "big.bin")
		if err != nil { // the reader was closed: the body was refused
			return
		}
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		for i := 0; i < fileSize>>20; i++ {
			if _, err := fw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	t.Cleanup(func() { pr.Close() })
	req := httptest.NewRequest(http.MethodPost, "/login", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	start := time.Now()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("multipart POST /login: %d, want 415\n%.300s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("a browser's refused form gets %q, want the error page", rec.Header().Get("Content-Type"))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing took %v", took)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the multipart POST left %d file(s) in the temp dir, e.g. %s", len(left), left[0].Name())
	}

	tests := []struct {
		name   string
		ct     string
		body   string
		accept string
		status int
		code   string // JSON error code, when not HTML
	}{
		{"urlencoded over 64 KiB", "application/x-www-form-urlencoded", "username=" + strings.Repeat("a", 65<<10), "text/html", http.StatusRequestEntityTooLarge, ""},
		{"urlencoded over 64 KiB, API", "application/x-www-form-urlencoded", "x=" + strings.Repeat("a", 65<<10), "", http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"JSON over 64 KiB with its length", "application/json", `{"alias":"` + strings.Repeat("a", 65<<10) + `"}`, "", http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"small multipart, API", "multipart/form-data; boundary=x", "--x--\r\n", "", http.StatusUnsupportedMediaType, "invalid_request"},
		{"multipart/mixed", "multipart/mixed; boundary=x", "--x--\r\n", "text/html", http.StatusUnsupportedMediaType, ""},
		{"small form reaches the CSRF check", "application/x-www-form-urlencoded", "username=alice", "text/html", http.StatusForbidden, ""},
	}
	t.Run("JSON of unknown length is bounded for the handler", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/user/keys", strings.NewReader(`{"alias":"`+strings.Repeat("a", 65<<10)+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		if p := readBody(rec, req); p != nil {
			t.Fatalf("refused: %d", p.status)
		}
		var big *http.MaxBytesError
		if n, err := io.Copy(io.Discard, req.Body); !errors.As(err, &big) || n > maxPageBody {
			t.Fatalf("read %d bytes, error %v; want a MaxBytesError at %d", n, err, maxPageBody)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			// Hide the length, as a chunked upload would: the limit must
			// hold while reading, not only on Content-Length.
			if strings.HasSuffix(tc.name, "API") {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.status || reached {
				t.Fatalf("status %d (handler reached: %v), want %d\n%.300s", rec.Code, reached, tc.status, rec.Body)
			}
			if tc.code != "" {
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tc.code || body["message"] == "" {
					t.Fatalf("body %q, want the JSON error %q", rec.Body, tc.code)
				}
			}
		})
	}
}
