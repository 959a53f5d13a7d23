package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// AccountStore is the storage the sign-up and account pages need.
type AccountStore interface {
	// CreateUser inserts u; storage.ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *storage.User) error
}

// Password rules for new accounts.
const (
	minPasswordLen = 12
	maxPasswordLen = 1024
)

// usernameRe allows 3–32 lowercase letters, digits, dots, dashes and
// underscores, starting with a letter or digit. Lowercase only, so two
// accounts can never differ by case alone.
var usernameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,31}$`)

// signupForm is what the sign-up form posts.
type signupForm struct {
	Username string
	Email    string
	Password string
}

// signupErrors holds one message per field; empty means fine.
type signupErrors struct {
	Username string
	Email    string
	Password string
	Form     string
}

func (e signupErrors) any() bool {
	return e.Username != "" || e.Email != "" || e.Password != "" || e.Form != ""
}

// validate checks the form's shape (not whether the username is free).
func (f signupForm) validate() signupErrors {
	var e signupErrors
	switch {
	case f.Username == "":
		e.Username = "Choose a username."
	case !usernameRe.MatchString(f.Username):
		e.Username = usernameProblem(f.Username)
	}
	switch {
	case f.Email == "":
		e.Email = "Enter your email address."
	case len(f.Email) > 254:
		e.Email = "That email address is too long."
	default:
		if a, err := mail.ParseAddress(f.Email); err != nil || a.Address != f.Email || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
			e.Email = "Enter an email address like name@example.com."
		}
	}
	e.Password = passwordProblem(f.Password, f.Username)
	return e
}

// usernameProblem says what is wrong with a username usernameRe refused.
func usernameProblem(name string) string {
	n := utf8.RuneCountInString(name)
	switch {
	case n < 3 || n > 32:
		return "Use 3–32 characters."
	case strings.ToLower(name) != name && usernameRe.MatchString(strings.ToLower(name)):
		return "Use lowercase letters only: try “" + strings.ToLower(name) + "”."
	case strings.IndexAny(name[:1], "._-") == 0:
		return "Start with a letter or a digit."
	}
	return "Use only lowercase letters, digits, dots, dashes and underscores."
}

// passwordProblem returns why password is not acceptable for username, or "".
// The rules: at least 12 characters, not the username, and not a trivially
// common or patterned password (NIST SP 800-63B §5.1.1.2 asks for a check
// against commonly used values rather than composition rules).
func passwordProblem(password, username string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return "Choose a password."
	case n < minPasswordLen:
		return "Use at least " + strconv.Itoa(minPasswordLen) + " characters."
	case len(password) > maxPasswordLen:
		return "Use at most " + strconv.Itoa(maxPasswordLen) + " characters."
	}
	lower := strings.ToLower(password)
	if username != "" && (lower == strings.ToLower(username) || strings.Contains(lower, strings.ToLower(username)) && n-utf8.RuneCountInString(username) < 6) {
		return "Don’t use your username as your password."
	}
	if isCommonPassword(lower) {
		return "That password is too common. Try a few unrelated words together."
	}
	return ""
}

// commonWords are the stems of the passwords most often found in breach
// corpora; a password that is one of them padded with digits or symbols is
// trivially guessed.
var commonWords = []string{
	"password", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertyuiop", "asdfgh", "asdfghjkl", "zxcvbnm",
	"letmein", "welcome", "admin", "administrator", "iloveyou", "changeme", "monkey", "dragon", "master",
	"sunshine", "princess", "football", "baseball", "superman", "batman", "trustno1", "starwars", "shadow",
	"michael", "jennifer", "abc", "abcdef", "secret", "login", "latchkey", "default", "qazwsx", "1qaz2wsx",
	"1q2w3e4r", "1q2w3e4r5t", "1q2w3e4r5t6y", "zaq12wsx", "qwe", "asd", "test", "guest", "hello", "whatever",
	"correcthorsebatterystaple",
}

// isCommonPassword reports whether lower (a lowercased password) is a common
// word repeated or padded with digits and symbols, a keyboard or counting
// run, or made of very few distinct characters.
func isCommonPassword(lower string) bool {
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) <= 3 {
		return true // aaaaaaaaaaaa, abababababab, 121212121212
	}
	if isRun(lower) || isRepeat(lower) {
		return true // 123456789012, abcdefghijkl, 987654321098, 123412341234
	}
	if slices.Contains(commonWords, lower) {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !('a' <= r && r <= 'z') })
	if core == "" {
		return isRun(strings.Map(keepDigit, lower)) // digits and symbols only
	}
	for _, w := range commonWords {
		if core == w || strings.Trim(strings.ReplaceAll(core, w, ""), "0123456789!@#$%^&*()_-+=.?") == "" {
			return true
		}
	}
	return false
}

// isRepeat reports whether s is one short piece (at most a third of s)
// repeated, like 123412341234 or qwerqwerqwer.
func isRepeat(s string) bool {
	for n := 1; n <= len(s)/3; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return true
		}
	}
	return false
}

func keepDigit(r rune) rune {
	if '0' <= r && r <= '9' {
		return r
	}
	return -1
}

// isRun reports whether s steps by +1 or -1 between characters (wrapping
// 9→0 for digits), like 1234567890123 or zyxwvutsrqpo.
func isRun(s string) bool {
	if len(s) < 4 {
		return false
	}
	for _, step := range []int{1, -1} {
		ok := true
		for i := 1; i < len(s) && ok; i++ {
			a, b := int(s[i-1]), int(s[i])
			d := b - a
			wrap := a >= '0' && a <= '9' && b >= '0' && b <= '9' && (d == -9*step)
			ok = d == step || wrap
		}
		if ok {
			return true
		}
	}
	return false
}

type signupPage struct {
	Form   signupForm
	Errors signupErrors
	Next   string
}

// SignupForm serves GET /signup.
func (h *Handler) SignupForm(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if u, _ := h.currentUser(c.Request); u != nil {
		h.flashRedirect(c, next, "You are already signed in as "+u.Username+".")
		return
	}
	h.render(c.Writer, c.Request, http.StatusOK, "signup", "Create an account", nil, signupPage{Next: next})
}

// Signup serves POST /signup: validate → create the user → sign in.
// Attempts per client IP share the login throttle, since each one costs an
// argon2id hash.
func (h *Handler) Signup(c *gin.Context) {
	r := c.Request
	form := signupForm{
		Username: strings.TrimSpace(c.PostForm("username")),
		Email:    strings.TrimSpace(c.PostForm("email")),
		Password: c.PostForm("password"),
	}
	page := signupPage{Form: signupForm{Username: form.Username, Email: form.Email}, Next: safeNext(c.PostForm("next"))}
	ipKey := "signup-ip:" + clientip.FromRequest(r)
	if wait := h.throttle.Blocked(ipKey); wait > 0 {
		h.rateLimited("signup")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page.Errors.Form = "Too many sign-ups from your network. Wait a minute and try again."
		h.render(c.Writer, r, http.StatusTooManyRequests, "signup", "Create an account", nil, page)
		return
	}
	if page.Errors = form.validate(); page.Errors.any() {
		h.render(c.Writer, r, http.StatusBadRequest, "signup", "Create an account", nil, page)
		return
	}
	h.throttle.Fail(ipKey)
	release, err := h.cfg.PasswordGate.Enter(r.Context())
	if err != nil { // the browser went away while queued
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Sign-up is busy; try again.")
		return
	}
	hash, err := secret.HashPassword(form.Password)
	release()
	if err != nil {
		h.log.ErrorContext(r.Context(), "hash password", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-up is unavailable right now.")
		return
	}
	u := &storage.User{ID: uuid.NewString(), Username: form.Username, Email: form.Email, PasswordHash: hash, CreatedAt: h.cfg.Now()}
	if err := h.store.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			page.Errors.Username = "That username is taken. Choose another."
			h.render(c.Writer, r, http.StatusConflict, "signup", "Create an account", nil, page)
			return
		}
		h.log.ErrorContext(r.Context(), "create user", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-up is unavailable right now.")
		return
	}
	h.log.InfoContext(r.Context(), "signup", "user_id", u.ID)
	if err := h.startSession(c.Writer, r, u, "Welcome to Latchkey, "+u.Username+". Your account is ready."); err != nil {
		h.log.ErrorContext(r.Context(), "save session", "error", err)
		h.flashRedirect(c, "/login", "Your account is ready. Sign in to continue.")
		return
	}
	c.Redirect(http.StatusSeeOther, page.Next)
}

// flashRedirect stores msg to be shown on the next page and redirects
// there with 303 See Other (the Post/Redirect/Get pattern).
func (h *Handler) flashRedirect(c *gin.Context, to, msg string) {
	// Get returns a usable new session even when the cookie was bad.
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	s.Values["flash"] = msg
	if err := s.Save(c.Request, c.Writer); err != nil {
		h.log.WarnContext(c.Request.Context(), "save flash", "error", err)
	}
	c.Redirect(http.StatusSeeOther, to)
}

// signedIn returns the signed-in user, or redirects to the login page
// (coming back to this page afterwards) and returns nil.
func (h *Handler) signedIn(c *gin.Context) *storage.User {
	u, _ := h.currentUser(c.Request)
	if u == nil {
		next := c.Request.URL.Path
		if c.Request.Method != http.MethodGet {
			next = "/"
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		return nil
	}
	return u
}
