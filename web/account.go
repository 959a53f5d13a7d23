package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/storage"
)

// AccountService is the account self-service the pages drive
// (*accounts.SelfService): profile, password, verification and reset.
type AccountService interface {
	UpdateProfile(ctx context.Context, u *storage.User, name, email, current string) (*storage.User, bool, error)
	ChangePassword(ctx context.Context, u *storage.User, current, next string) error
	SendVerification(ctx context.Context, u *storage.User) error
	RequestReset(ctx context.Context, who string)
	CheckLink(ctx context.Context, purpose, token string) (*storage.User, error)
	ResetPassword(ctx context.Context, token, password string) (*storage.User, error)
	ConfirmEmail(ctx context.Context, token string) (*storage.User, error)
	DeleteAccount(ctx context.Context, u *storage.User, current, typed string) (*storage.UserDeletion, error)
}

// pageTime is a moment as templates show it: words for people and an
// RFC 3339 value for the <time datetime> attribute; the "when" template
// function (pageFuncs) takes it whole.
type pageTime struct {
	Text string
	ISO  string
	At   time.Time
}

func newPageTime(t time.Time) pageTime {
	if t.IsZero() {
		return pageTime{}
	}
	t = t.UTC()
	return pageTime{Text: t.Format(absoluteLayout), ISO: t.Format(time.RFC3339), At: t}
}

// profileForm is what the name-and-email form holds.
type profileForm struct {
	Name  string
	Email string
}

// profileErrors holds one message per profile field; empty means fine.
type profileErrors struct {
	Name, Email, Current, Form string
}

// passwordErrors holds the password form's messages.
type passwordErrors struct {
	Current, New string
}

type accountPage struct {
	ID            string
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Created       pageTime
	// Tenants are every tenant the person reaches: the personal
	// workspace, then each organization's (accountTenants).
	Tenants []accountTenant
	// The forms: values shown and messages next to their fields.
	Profile        profileForm
	ProfileErrors  profileErrors
	PasswordErrors passwordErrors
	DeleteErrors   deleteErrors
	DeleteTyped    string
	// Sessions are the person's live sign-ins (nil without records).
	Sessions []sessionRow
}

func newAccountPage(u *storage.User) accountPage {
	return accountPage{
		ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerifiedAt != nil,
		Created: newPageTime(u.CreatedAt),
		Tenants: []accountTenant{personalTenant(u)},
		Profile: profileForm{Name: u.Name, Email: u.Email},
	}
}

// Account serves GET /account: the signed-in person's profile, tenants and
// the forms that change them.
func (h *Handler) Account(c *gin.Context) {
	u := signedInUser(c)
	h.renderAccount(c, http.StatusOK, u, newAccountPage(u))
}

// UpdateProfile serves POST /account/profile: name and email, with the
// sign-up rules (accounts); a new address needs the current password (a
// wrong one counts against the same throttle as a password change) and
// is unverified until its link is followed.
func (h *Handler) UpdateProfile(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	form := profileForm{Name: strings.TrimSpace(c.PostForm("name")), Email: strings.TrimSpace(c.PostForm("email"))}
	guessKey := "chpw:" + u.ID // the same guess as a password change
	if wait := h.throttle.Blocked(guessKey); wait > 0 && !strings.EqualFold(u.Email, form.Email) {
		h.rateLimited("password_change")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page := newAccountPage(u)
		page.Profile = form
		page.ProfileErrors.Current = "Too many wrong passwords. Wait a minute and try again."
		h.renderAccount(c, http.StatusTooManyRequests, u, page)
		return
	}
	updated, sent, err := h.cfg.Account.UpdateProfile(r.Context(), u, form.Name, form.Email, c.PostForm("current_password"))
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		page := newAccountPage(u)
		page.Profile = form
		page.ProfileErrors = profileErrors{Name: fe.Message(accounts.FieldName), Email: fe.Message(accounts.FieldEmail), Current: fe.Message(accounts.FieldCurrentPassword)}
		h.renderAccount(c, h.currentPasswordStatus(c, guessKey, page.ProfileErrors.Current), u, page)
		return
	case errors.Is(err, accounts.ErrBusy):
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Profile changes are busy; try again.")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "update profile", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Your profile could not be saved; try again.")
		return
	}
	h.log.InfoContext(r.Context(), "profile updated", "event", "profile_updated", "user_id", u.ID, "email_changed", !strings.EqualFold(u.Email, updated.Email))
	msg := "Your profile is saved."
	if sent {
		msg = "Your profile is saved. We sent a confirmation link to " + updated.Email + "."
	} else if !strings.EqualFold(u.Email, updated.Email) {
		msg = "Your profile is saved, but the confirmation mail could not be sent. Try again from this page later."
	}
	h.flashRedirect(c, "/account", msg)
}

// ChangePassword serves POST /account/password: the current password is
// checked, the new one must pass the sign-up rules; every other session
// of the person ends, and this browser gets a fresh one.
func (h *Handler) ChangePassword(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	guessKey := "chpw:" + u.ID
	if wait := h.throttle.Blocked(guessKey); wait > 0 {
		h.rateLimited("password_change")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page := newAccountPage(u)
		page.PasswordErrors.Current = "Too many wrong passwords. Wait a minute and try again."
		h.renderAccount(c, http.StatusTooManyRequests, u, page)
		return
	}
	err := h.cfg.Account.ChangePassword(r.Context(), u, c.PostForm("current_password"), c.PostForm("new_password"))
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		page := newAccountPage(u)
		page.PasswordErrors = passwordErrors{Current: fe.Message(accounts.FieldCurrentPassword), New: fe.Message(accounts.FieldPassword)}
		h.renderAccount(c, h.currentPasswordStatus(c, guessKey, page.PasswordErrors.Current), u, page)
		return
	case errors.Is(err, accounts.ErrBusy):
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Password changes are busy; try again.")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "change password", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Your password could not be changed; try again.")
		return
	}
	h.log.InfoContext(r.Context(), "password changed", "event", "password_changed", "user_id", u.ID)
	h.sessionsEnded(r, u.ID)
	if err := h.startSession(c.Writer, r, u, "Your password is changed. You are signed out everywhere else."); err != nil {
		h.log.ErrorContext(r.Context(), "save session", "error", err)
		h.flashRedirect(c, "/login", "Your password is changed. Sign in with it.")
		return
	}
	c.Redirect(http.StatusSeeOther, "/account")
}

// SendVerification serves POST /account/verify-email: a new confirmation
// link to the person's current address.
func (h *Handler) SendVerification(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	if u.EmailVerifiedAt != nil {
		h.flashRedirect(c, "/account", "Your email address is already confirmed.")
		return
	}
	if wait := h.resetAddr.Blocked("verify:" + u.ID); wait > 0 {
		h.rateLimited("verify_email")
		h.flashRedirect(c, "/account", "We sent several links a moment ago. Check your mail, or try again in a few minutes.")
		return
	}
	h.resetAddr.Fail("verify:" + u.ID)
	switch err := h.cfg.Account.SendVerification(r.Context(), u); {
	case errors.Is(err, accounts.ErrNoEmail):
		h.flashRedirect(c, "/account", "Add an email address first.")
	case err != nil:
		h.log.ErrorContext(r.Context(), "send verification", "error", err)
		h.flashRedirect(c, "/account", "The confirmation mail could not be sent. Try again later.")
	default:
		h.flashRedirect(c, "/account", "We sent a confirmation link to "+u.Email+".")
	}
}

// sessionsEnded tells the apps the person's ended sessions reached
// (back-channel logout, when configured), as sign-out does: a password
// change or reset ends every session of the person.
func (h *Handler) sessionsEnded(r *http.Request, userID string) {
	if h.cfg.Logout != nil {
		h.cfg.Logout.SessionsEnded(r.Context(), userID)
	}
}

// currentPasswordStatus is the status of a refused account form that asks
// for the current password: a wrong one that was typed is a guess, counted
// against guessKey and answered 401; anything else is 400.
func (h *Handler) currentPasswordStatus(c *gin.Context, guessKey, currentErr string) int {
	if currentErr != "" && c.PostForm("current_password") != "" {
		h.throttle.Fail(guessKey)
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}
