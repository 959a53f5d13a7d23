package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/storage"
)

// AccountStore is the storage the sign-up and account pages need.
type AccountStore interface {
	// CreateUser inserts u; storage.ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *storage.User) error
}

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

// newUser is the account the form asks for: a person signing themselves up
// must give an email address.
func (f signupForm) newUser() accounts.NewUser {
	return accounts.NewUser{Username: f.Username, Email: f.Email, Password: f.Password, EmailRequired: true}
}

// fieldErrors files accounts' refusals under the form's fields.
func fieldErrors(err error) signupErrors {
	var fe accounts.FieldErrors
	if !errors.As(err, &fe) {
		return signupErrors{Form: "Check the fields and try again."}
	}
	return signupErrors{
		Username: fe.Message(accounts.FieldUsername),
		Email:    fe.Message(accounts.FieldEmail),
		Password: fe.Message(accounts.FieldPassword),
	}
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

// Signup serves POST /signup: validate → create the user (accounts, which
// owns the rules and the hashing) → sign in. Attempts per client IP share
// the login throttle, since each one costs an argon2id hash.
func (h *Handler) Signup(c *gin.Context) {
	r := c.Request
	form := signupForm{
		Username: strings.TrimSpace(c.PostForm("username")),
		Email:    strings.TrimSpace(c.PostForm("email")),
		Password: c.PostForm("password"),
	}
	page := signupPage{Form: signupForm{Username: form.Username, Email: form.Email}, Next: safeNext(c.PostForm("next"))}
	ipKey := "signup-ip:" + clientip.Bucket(r)
	if wait := h.throttle.Blocked(ipKey); wait > 0 {
		h.rateLimited("signup")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page.Errors.Form = "Too many sign-ups from your network. Try again in " + waitText(wait) + "."
		h.render(c.Writer, r, http.StatusTooManyRequests, "signup", "Create an account", nil, page)
		return
	}
	if err := accounts.Validate(form.newUser()); err != nil {
		page.Errors = fieldErrors(err)
		h.render(c.Writer, r, http.StatusBadRequest, "signup", "Create an account", nil, page)
		return
	}
	h.throttle.Fail(ipKey)
	u, err := h.accounts.Create(r.Context(), form.newUser())
	switch {
	case errors.Is(err, accounts.ErrBusy): // the browser went away while queued
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Sign-up is busy; try again.")
		return
	case errors.Is(err, accounts.ErrUsernameTaken):
		page.Errors.Username = "That username is taken. Choose another."
		h.render(c.Writer, r, http.StatusConflict, "signup", "Create an account", nil, page)
		return
	case err != nil:
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
