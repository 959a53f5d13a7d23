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

// TestKnownDeviceLogsInWhileUsernameUnderAttack (finding 7): after ten
// failed guesses from one address, that address and the username are
// blocked for untrusted clients — the guesser's right password too — but
// the owner's browser, holding the device cookie of an earlier sign-in,
// signs in with the right password; its own failures are throttled per
// device cookie, and the refusal says how long to wait. Before the fix the
// owner got 429 like everyone else.
func TestKnownDeviceLogsInWhileUsernameUnderAttack(t *testing.T) {
	f := newSecFixture(t, nil)
	owner := f.browser(t)
	if resp, _ := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	dev := f.cookie(t, owner, "latchkey_device")
	if dev == nil {
		t.Fatal("no device cookie after a successful login")
	}
	if resp, _ := f.post(t, owner, "/logout", url.Values{"csrf_token": {f.token(t, owner)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("logout failed")
	}

	attacker := f.browser(t)
	for i := range 10 {
		if resp, body := f.login(t, attacker, "alice", fmt.Sprintf("guess-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
	resp, body := f.login(t, attacker, "alice", secPassword)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the guesser's right password: %d, want 429", resp.StatusCode)
	}
	if !strings.Contains(body, "Try again in 1 minute.") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the refusal does not say how long to wait: Retry-After %q\n%s", resp.Header.Get("Retry-After"), body)
	}
	// Another untrusted browser (same address, as behind one load balancer).
	if resp, _ := f.login(t, f.browser(t), "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("an unknown browser's right password while the username is locked: %d, want 429", resp.StatusCode)
	}

	// The owner, from the same address, on the known browser.
	if resp, body := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner's right password on a known device: %d, want 303\n%s", resp.StatusCode, body)
	}
	if renewed := f.cookie(t, owner, "latchkey_device"); renewed == nil || renewed.Value == dev.Value {
		t.Error("the device cookie was not renewed on sign-in")
	}
	// The device cookie is bound to its username.
	hash, _ := secret.HashPassword("bobs-password-123")
	_ = f.store.CreateUser(context.Background(), &storage.User{ID: "u-bob", Username: "bob", PasswordHash: hash, CreatedAt: time.Now()})
	if resp, _ := f.login(t, owner, "bob", "bobs-password-123"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("alice's device cookie let bob's sign-in past the blocked address: %d", resp.StatusCode)
	}
	// A forged device cookie is an untrusted client.
	forged := f.browser(t)
	u, _ := url.Parse(f.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_device", Value: dev.Value + "x", Path: "/"}})
	if resp, _ := f.login(t, forged, "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a forged device cookie passed the lockout: %d", resp.StatusCode)
	}

	// Guessing on the known device is throttled per device cookie.
	for i := range 10 {
		if resp, _ := f.login(t, owner, "alice", fmt.Sprintf("typo-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("typo %d on the known device: %d", i, resp.StatusCode)
		}
	}
	if resp, body := f.login(t, owner, "alice", secPassword); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
		t.Fatalf("after ten failures on the known device: %d, want 429 with the wait", resp.StatusCode)
	}
}

// TestFailedLoginLoggedAsSecurityEvent: a failed sign-in is one warn line
// with event=login_failed, the username and the client IP, and never the
// password.
func TestFailedLoginLoggedAsSecurityEvent(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	wrong := "Wrong-Password-Do-Not-Log-42"
	if resp, _ := f.login(t, c, "alice", wrong); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	logs := f.logs.String()
	if strings.Contains(logs, wrong) {
		t.Fatalf("the log contains the password:\n%s", logs)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["event"] != "login_failed" {
			continue
		}
		found = true
		if rec["level"] != "WARN" || rec["username"] != "alice" || rec["client_ip"] != "127.0.0.1" || rec["known_device"] != false {
			t.Errorf("security event %v", rec)
		}
	}
	if !found {
		t.Fatalf("no event=login_failed line:\n%s", logs)
	}
}

// TestLoginRotatesCSRFToken: signing in issues a new session id and
// drops the CSRF token, so a token obtained before the sign-in (say, by
// an attacker who planted it for a login CSRF) no longer validates.
func TestLoginRotatesCSRFToken(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	before := f.token(t, c)
	resp, body := f.post(t, c, "/login", url.Values{"username": {"alice"}, "password": {secPassword}, "csrf_token": {before}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", resp.StatusCode, body)
	}
	var dropped bool
	for _, ck := range resp.Cookies() {
		if ck.Name == f.h.csrfName && ck.MaxAge < 0 {
			dropped = true
		}
	}
	if !dropped {
		t.Fatal("login did not drop the CSRF cookie")
	}
	if resp, _ := f.post(t, c, "/logout", url.Values{"csrf_token": {before}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the pre-login CSRF token still works after login: %d", resp.StatusCode)
	}
	after := f.token(t, c)
	if after == "" || after == before {
		t.Fatal("no new CSRF token after login")
	}
	if resp, _ := f.post(t, c, "/logout", url.Values{"csrf_token": {after}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new token is refused: %d", resp.StatusCode)
	}
}

// TestLoginIssuesNewSessionID: each sign-in stores a new random session
// id, whatever session the browser brought.
func TestLoginIssuesNewSessionID(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	sid := func() string {
		s, err := f.h.sessions.Get(requestWith(f.cookie(t, c, f.h.SessionCookie())), f.h.sessionName)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := s.Values["sid"].(string)
		return v
	}
	seen := map[string]bool{}
	for i := range 3 {
		if resp, _ := f.login(t, c, "alice", secPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %d: %d", i, resp.StatusCode)
		}
		id := sid()
		if len(id) < 32 || seen[id] {
			t.Fatalf("login %d: session id %q reused or short", i, id)
		}
		seen[id] = true
	}
}

// TestHostPrefixedCookiesOnHTTPS: with an https issuer the session, CSRF
// and device cookies are __Host- cookies (Secure, Path=/, no Domain);
// on http, where browsers refuse the prefix, the plain names stay.
func TestHostPrefixedCookiesOnHTTPS(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		prefix string
	}{{true, "__Host-"}, {false, ""}} {
		t.Run(fmt.Sprintf("secure=%v", tc.secure), func(t *testing.T) {
			h, store, _, _ := newSecHandler(t, tc.secure, nil)
			hash, _ := secret.HashPassword(secPassword)
			_ = store.CreateUser(context.Background(), &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash, CreatedAt: time.Now()})
			if got := h.SessionCookie(); got != tc.prefix+"latchkey_session" {
				t.Errorf("SessionCookie() = %q", got)
			}
			gin.SetMode(gin.ReleaseMode)
			e := gin.New()
			e.GET("/login", h.CSRF(), h.LoginForm)
			e.POST("/login", h.Login) // the cookies a sign-in sets
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
			form := url.Values{"username": {"alice"}, "password": {secPassword}}
			req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec2 := httptest.NewRecorder()
			e.ServeHTTP(rec2, req)
			if rec2.Code != http.StatusSeeOther {
				t.Fatalf("login: %d", rec2.Code)
			}
			got := map[string]*http.Cookie{}
			for _, ck := range append(rec.Result().Cookies(), rec2.Result().Cookies()...) {
				got[ck.Name] = ck
			}
			for _, name := range []string{"latchkey_session", "latchkey_csrf", "latchkey_device"} {
				ck := got[tc.prefix+name]
				if ck == nil {
					t.Errorf("no %s cookie; got %v", tc.prefix+name, got)
					continue
				}
				if ck.Secure != tc.secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly {
					t.Errorf("%s: Secure %v Path %q Domain %q HttpOnly %v", ck.Name, ck.Secure, ck.Path, ck.Domain, ck.HttpOnly)
				}
			}
		})
	}
}

// TestDeviceCookieBoundToExactUsername: usernames are case-sensitive in
// the store (`latchkey user create --username Bob` beside a self-service
// "bob"), so a device cookie names its username exactly. Before the fix
// the cookie compared lower-cased, so the owner of "bob" — who gets a
// fresh device cookie at every sign-in — guessed Bob's password as a
// "known device", throttled only per cookie and never counted against
// the username or the address: unlimited guesses from one IP.
func TestDeviceCookieBoundToExactUsername(t *testing.T) {
	f := newSecFixture(t, nil)
	for _, u := range []struct{ id, name, pw string }{{"u-bob", "bob", "bobs-password-123"}, {"u-Bob", "Bob", "Bobs-password-456"}} {
		hash, _ := secret.HashPassword(u.pw)
		if err := f.store.CreateUser(context.Background(), &storage.User{ID: u.id, Username: u.name, PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	attacker := f.browser(t)
	if resp, _ := f.login(t, attacker, "bob", "bobs-password-123"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("attacker's own login: %d", resp.StatusCode)
	}
	for i := range 10 {
		if resp, _ := f.login(t, attacker, "Bob", fmt.Sprintf("guess-%d-password", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	// The guesses were an untrusted client's: the username (and the
	// address) are now blocked for any untrusted browser.
	if resp, _ := f.login(t, f.browser(t), "Bob", "Bobs-password-456"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after ten guesses with bob's device cookie, an untrusted login to Bob: %d, want 429 (the guesses bypassed the username limit)", resp.StatusCode)
	}
}

// TestFailedLoginNeverLogsUnknownUsername: people type their password
// into the username field; a failed sign-in for a username nobody has
// logs a fingerprint of what was typed, never the text, so the warn line
// (and the throttled line after it) cannot carry a password. Before the
// fix the typed text was logged as "username" at warn.
func TestFailedLoginNeverLogsUnknownUsername(t *testing.T) {
	f := newSecFixture(t, nil)
	c := f.browser(t)
	typed := secPassword // the password, typed into the username field
	for range 11 {
		f.login(t, c, typed, "whatever-was-typed-next")
	}
	logs := f.logs.String()
	if strings.Contains(logs, typed) {
		t.Fatalf("the log contains what was typed as the username:\n%s", logs)
	}
	var failed, throttled bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["event"] {
		case "login_failed":
			failed = true
		case "login_throttled":
			throttled = true
		default:
			continue
		}
		if u, _ := rec["username"].(string); !strings.HasPrefix(u, "unknown:") {
			t.Errorf("username of an unknown user logged as %q", u)
		}
	}
	if !failed || !throttled {
		t.Fatalf("missing events (failed %v, throttled %v):\n%s", failed, throttled, logs)
	}
	// A real username is still logged as typed.
	f.login(t, f.browser(t), "alice", "not-alices-password")
	if !strings.Contains(f.logs.String(), `"username":"alice"`) {
		t.Errorf("a known username is no longer logged:\n%s", f.logs.String())
	}
}
