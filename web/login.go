package web

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/logging"
	"github.com/latchkey/latchkey/storage"
)

type loginPage struct {
	Username string
	Next     string
	Error    string
	// Passkeys offers "Sign in with a passkey" (passkey.go).
	Passkeys bool
	// App is the name of the app whose authorization request Next
	// resumes ("" when Next is no such request): "Sign in to continue to App".
	App string
}

// nextApp returns the name of the registered app whose authorization
// request next is, or "".
func (h *Handler) nextApp(r *http.Request, next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Path != "/oauth/authorize" {
		return ""
	}
	id := u.Query().Get("client_id")
	if id == "" {
		return ""
	}
	cl, err := h.store.GetClient(r.Context(), id)
	if err != nil {
		return ""
	}
	return cl.Name
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
	next := safeNext(c.Query("next"))
	h.render(c.Writer, c.Request, http.StatusOK, "login", "Sign in", u, loginPage{Next: next, App: h.nextApp(c.Request, next), Passkeys: h.cfg.Passkeys != nil})
}

const badLogin = "The username or password is not right."

// Login serves POST /login, with a message that never says whether the
// username exists. Guessing is throttled as OWASP's device-cookie scheme
// describes (see deviceCookies): a browser holding a valid device cookie
// for the username is counted, and refused, per that cookie alone, so a
// locked-out username or a blocked address does not refuse the owner's
// correct password on their own browser; every other attempt is counted
// per username and per client IP (clientip.FromRequest, the same IP the
// API's HTTP Basic counts under, in the same counter) and refused while
// either is blocked. Each failure is logged as a security event.
func (h *Handler) Login(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	username := strings.TrimSpace(c.PostForm("username"))
	password := c.PostForm("password")
	next := safeNext(c.PostForm("next"))
	page := loginPage{Username: username, Next: next, Passkeys: h.cfg.Passkeys != nil}
	if next != "/" {
		page.App = h.nextApp(r, next)
	}
	ip := clientip.FromRequest(r)
	userKey := "u:" + strings.ToLower(username)
	keys := []string{userKey, "ip:" + clientip.Bucket(r)}
	deviceKey, knownDevice := h.devices.known(r, username)
	if knownDevice {
		keys = []string{deviceKey}
	}
	event := func(level slog.Level, msg, name string, u *storage.User, extra ...any) {
		h.log.Log(ctx, level, msg, append([]any{"event", name, "username", logging.TypedUsername(username, accountName(u)),
			"client_ip", ip, "known_device", knownDevice}, extra...)...)
	}
	if wait := h.throttle.Blocked(keys...); wait > 0 {
		h.rateLimited("login")
		secs := int(math.Ceil(wait.Seconds()))
		u, _ := h.store.GetUserByUsername(ctx, username) // only to log the name, when it is one
		event(slog.LevelInfo, "login refused: too many failures", "login_throttled", u, "retry_after_s", secs)
		c.Header("Retry-After", strconv.Itoa(secs))
		page.Error = waitMessage(wait)
		h.render(c.Writer, r, http.StatusTooManyRequests, "login", "Sign in", nil, page)
		return
	}
	if username == "" || password == "" || len(username) > 64 || len(password) > 1024 {
		page.Error = "Enter your username and password."
		h.render(c.Writer, r, http.StatusBadRequest, "login", "Sign in", nil, page)
		return
	}
	u, err := h.store.GetUserByUsername(ctx, username)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.log.ErrorContext(ctx, "login lookup", "error", err)
			h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
			return
		}
		u = nil // unknown: the check below costs the same (accounts.CheckPassword)
	}
	// Queued for the shared PasswordGate; an old hash is upgraded on success.
	err = accounts.CheckPassword(ctx, h.cfg.PasswordGate, h.store, h.log, u, password)
	if errors.Is(err, accounts.ErrBusy) { // the browser went away while queued
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Sign-in is busy; try again.")
		return
	}
	if u == nil || err != nil {
		h.throttle.Fail(keys...)
		event(slog.LevelWarn, "login failed", "login_failed", u)
		h.countSignIn(storage.OutcomeSignInFailed)
		page.Error = badLogin
		h.render(c.Writer, r, http.StatusUnauthorized, "login", "Sign in", nil, page)
		return
	}
	// A success clears the failures it was counted under: the username's
	// (never the address's, which an attacker's own account would clear)
	// or the device cookie's. A known device's success leaves the
	// username's untrusted-client count alone.
	h.throttle.Reset(keys[0])
	if u.SuspendedAt != nil {
		// Said only after the right password, so the page does not tell
		// anyone else that the account exists or is suspended.
		event(slog.LevelWarn, "login refused: account suspended", "login_suspended", u)
		page.Error = suspendedLogin
		h.render(c.Writer, r, http.StatusForbidden, "login", "Sign in", nil, page)
		return
	}
	if two, err := h.needsSecondStep(r, u); err != nil || two {
		h.toSecondStep(c, u, next, err) // two-factor sign-in (twofactor_login.go)
		return
	}
	// A fresh session on login: every old value is dropped and a new
	// session id issued, so a planted cookie cannot be fixed in place.
	if err := h.startSession(c.Writer, r, u, "Signed in as "+u.Username+"."); err != nil {
		h.log.ErrorContext(ctx, "save session", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	if err := h.devices.issue(c.Writer, u.Username); err != nil {
		h.log.WarnContext(ctx, "device cookie", "error", err)
	}
	h.log.InfoContext(ctx, "login", "event", "login", "user_id", u.ID, "client_ip", ip, "known_device", knownDevice)
	h.countSignIn(storage.OutcomeSignIn)
	c.Redirect(http.StatusSeeOther, next)
}

// suspendedLogin is the login page's answer to the right password of a
// suspended account.
const suspendedLogin = "This account is suspended. Contact the administrator of this Latchkey to have it reinstated."

// waitMessage tells a throttled person how long to wait — the same whole
// seconds as the Retry-After header.
func waitMessage(wait time.Duration) string {
	return "Too many failed sign-in attempts. Try again in " + waitText(wait) + "."
}

// waitText says a wait in words: whole seconds, rounded up, below two
// minutes ("1 second", "42 seconds"), whole minutes above ("3 minutes").
func waitText(wait time.Duration) string {
	secs := int(math.Ceil(wait.Seconds()))
	switch {
	case secs <= 1:
		return "1 second"
	case secs < 120:
		return strconv.Itoa(secs) + " seconds"
	}
	return strconv.Itoa(int(math.Ceil(wait.Minutes()))) + " minutes"
}

// accountName is u's username, "" for no user.
func accountName(u *storage.User) string {
	if u == nil {
		return ""
	}
	return u.Username
}
