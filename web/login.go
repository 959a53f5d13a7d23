package web

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// currentUser returns the signed-in user and when they authenticated.
func (h *Handler) currentUser(r *http.Request) (*storage.User, time.Time) {
	s, err := h.sessions.Get(r, sessionName)
	if err != nil {
		return nil, time.Time{}
	}
	uid, _ := s.Values["uid"].(string)
	at, _ := s.Values["auth_time"].(int64)
	if uid == "" {
		return nil, time.Time{}
	}
	u, err := h.store.GetUser(r.Context(), uid)
	if err != nil {
		return nil, time.Time{}
	}
	if u.SessionsNotBefore != nil {
		// Sessions older than the user's last logout are over, wherever
		// their cookie turns up.
		ns, ok := s.Values["auth_ns"].(int64)
		if !ok {
			ns = at * int64(time.Second)
		}
		if ns < u.SessionsNotBefore.UnixNano() {
			return nil, time.Time{}
		}
	}
	return u, time.Unix(at, 0)
}

type loginPage struct {
	Username string
	Next     string
	Error    string
}

// safeNext keeps only internal targets: an absolute path on this site, never
// "//host" or "/\host" (which browsers treat as another origin).
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	if strings.ContainsFunc(next, unicode.IsControl) { // url.Parse does not check the fragment
		return "/"
	}
	return next
}

// LoginForm serves GET /login.
func (h *Handler) LoginForm(c *gin.Context) {
	u, _ := h.currentUser(c.Request)
	h.render(c.Writer, c.Request, http.StatusOK, "login", "Sign in", u, loginPage{Next: safeNext(c.Query("next"))})
}

const badLogin = "The username or password is not right."

// Login serves POST /login: throttled per username and per client IP,
// with a message that never says whether the username exists.
func (h *Handler) Login(c *gin.Context) {
	r := c.Request
	username := strings.TrimSpace(c.PostForm("username"))
	password := c.PostForm("password")
	next := safeNext(c.PostForm("next"))
	page := loginPage{Username: username, Next: next}
	ip := clientIP(r)
	userKey := "u:" + strings.ToLower(username)
	if wait := h.throttle.Blocked(userKey, "ip:"+ip); wait > 0 {
		h.rateLimited("login")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page.Error = "Too many failed sign-in attempts. Wait a minute and try again."
		h.render(c.Writer, r, http.StatusTooManyRequests, "login", "Sign in", nil, page)
		return
	}
	if username == "" || password == "" || len(username) > 64 || len(password) > 1024 {
		page.Error = "Enter your username and password."
		h.render(c.Writer, r, http.StatusBadRequest, "login", "Sign in", nil, page)
		return
	}
	release, err := h.cfg.PasswordGate.Enter(r.Context())
	if err != nil { // the browser went away while queued
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Sign-in is busy; try again.")
		return
	}
	defer release()
	u, err := h.store.GetUserByUsername(r.Context(), username)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.log.ErrorContext(r.Context(), "login lookup", "error", err)
			h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
			return
		}
		_ = secret.VerifyNoUser(password) // equal cost for unknown users
	}
	if u == nil || secret.VerifyPassword(u.PasswordHash, password) != nil {
		h.throttle.Fail(userKey, "ip:"+ip)
		page.Error = badLogin
		h.render(c.Writer, r, http.StatusUnauthorized, "login", "Sign in", nil, page)
		return
	}
	h.throttle.Reset(userKey)
	// A fresh session on login: every old value is dropped and a new
	// session id issued, so a planted cookie cannot be fixed in place.
	if err := h.startSession(c.Writer, r, u, "Signed in as "+u.Username+"."); err != nil {
		h.log.ErrorContext(r.Context(), "save session", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	h.log.InfoContext(r.Context(), "login", "user_id", u.ID)
	c.Redirect(http.StatusSeeOther, next)
}

// Logout serves POST /logout: the cookie is expired and, on the server,
// every session of the user that signed in before now ends, so a copy of
// the cookie is worthless on every instance.
func (h *Handler) Logout(c *gin.Context) {
	if u, _ := h.currentUser(c.Request); u != nil {
		if err := h.store.EndSessions(c.Request.Context(), u.ID, h.cfg.Now()); err != nil {
			h.log.ErrorContext(c.Request.Context(), "end sessions", "error", err)
			h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Sign-out failed; try again.")
			return
		}
	}
	s, _ := h.sessions.New(c.Request, sessionName)
	s.Values = map[interface{}]interface{}{}
	s.Options.MaxAge = -1
	_ = s.Save(c.Request, c.Writer)
	c.Redirect(http.StatusSeeOther, "/login")
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
