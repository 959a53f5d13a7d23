package web

import (
	"context"
	"errors"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/twofactor"
)

// TwoFactorService is what the pages use of twofactor.Service.
type TwoFactorService interface {
	Status(ctx context.Context, userID string) (twofactor.Status, error)
	Enabled(ctx context.Context, userID string) (bool, error)
	BeginTOTP(ctx context.Context, userID, account string) (*twofactor.Enrolment, error)
	PendingTOTP(ctx context.Context, userID, account string) (*twofactor.Enrolment, error)
	ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error)
	Verify(ctx context.Context, userID, code string) error
	DisableTOTP(ctx context.Context, userID string) error
	NewRecoveryCodes(ctx context.Context, userID string) ([]string, error)
}

type twoFactorPage struct {
	TOTP         bool
	RecoveryLeft int
	Enrolment    *twofactor.Enrolment
	// QR is the enrolment's QR code, a data: URL made here (safe for src).
	QR template.URL
	// Error is shown at the confirmation code, ReauthError at the
	// password-or-code fields.
	Error, ReauthError string
	// PasskeyError is shown at the passkey list; Passkeys is on when
	// passkeys are wired.
	PasskeyError string
	PasskeysOn   bool
	Passkeys     []passkeyRow
}

type recoveryCodesPage struct{ Codes []string }

// twoFactorOn answers 404 when two-factor sign-in is not wired.
func (h *Handler) twoFactorOn(c *gin.Context) bool {
	if h.cfg.TwoFactor == nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "Two-factor sign-in is not available here.")
		return false
	}
	return true
}

// renderTwoFactor shows /account/two-factor for u with status.
func (h *Handler) renderTwoFactor(c *gin.Context, u *storage.User, status int, page twoFactorPage) {
	ctx := c.Request.Context()
	st, err := h.cfg.TwoFactor.Status(ctx, u.ID)
	if err != nil {
		h.log.ErrorContext(ctx, "two-factor status", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
		return
	}
	page.TOTP, page.RecoveryLeft = st.TOTP, st.RecoveryLeft
	page.Passkeys, page.PasskeysOn = passkeyRows(st.Passkeys), h.cfg.Passkeys != nil
	if st.Pending && page.Enrolment == nil {
		if page.Enrolment, err = h.cfg.TwoFactor.PendingTOTP(ctx, u.ID, u.Username); err != nil {
			h.log.WarnContext(ctx, "pending enrolment", "error", err)
			page.Enrolment = nil
		}
	}
	if page.Enrolment != nil && strings.HasPrefix(page.Enrolment.QR, "data:image/png;base64,") {
		page.QR = template.URL(page.Enrolment.QR) // #nosec: our own PNG, base64 only
	}
	h.render(c.Writer, c.Request, status, "two_factor", "Two-factor sign-in", u, page)
}

// TwoFactorPage serves GET /account/two-factor.
func (h *Handler) TwoFactorPage(c *gin.Context) {
	if !h.twoFactorOn(c) {
		return
	}
	h.renderTwoFactor(c, signedInUser(c), http.StatusOK, twoFactorPage{})
}

// recentSignIn is how recent a sign-in must be to add a way of signing
// in (an authenticator app or a passkey): a stolen or forgotten-open
// session cannot plant one that outlives a password reset, or enrol an
// authenticator that locks the owner out ("sudo mode", as GitHub does).
const recentSignIn = 15 * time.Minute

// reauthPath is where a person signs in again to come back to the
// two-factor settings.
const reauthPath = "/login?next=%2Faccount%2Ftwo-factor"

// signedInRecently reports whether r's sign-in happened within
// recentSignIn.
func (h *Handler) signedInRecently(r *http.Request) bool {
	u, at := h.currentUser(r)
	return u != nil && h.cfg.Now().Sub(at) < recentSignIn
}

// reauthMessage asks for a fresh sign-in before adding a sign-in method.
const reauthMessage = "To add a way of signing in, sign in again first: it needs a sign-in from the last 15 minutes."

// EnrolTOTP serves POST /account/two-factor/enrol: a new authenticator
// secret, shown on the page until a code from it turns it on. It needs a
// recent sign-in (recentSignIn).
func (h *Handler) EnrolTOTP(c *gin.Context) {
	if !h.twoFactorOn(c) {
		return
	}
	if !h.signedInRecently(c.Request) {
		h.flashRedirect(c, reauthPath, reauthMessage)
		return
	}
	u := signedInUser(c)
	e, err := h.cfg.TwoFactor.BeginTOTP(c.Request.Context(), u.ID, u.Username)
	switch {
	case errors.Is(err, twofactor.ErrAlreadyOn):
		h.flashRedirect(c, "/account/two-factor", "Your authenticator app is already on.")
		return
	case err != nil:
		h.log.ErrorContext(c.Request.Context(), "begin totp", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
		return
	}
	h.renderTwoFactor(c, u, http.StatusOK, twoFactorPage{Enrolment: e})
}

// ConfirmTOTP serves POST /account/two-factor/confirm: a current code
// turns the authenticator on; the recovery codes are shown once.
func (h *Handler) ConfirmTOTP(c *gin.Context) {
	if !h.twoFactorOn(c) {
		return
	}
	u := signedInUser(c)
	ctx := c.Request.Context()
	codes, err := h.cfg.TwoFactor.ConfirmTOTP(ctx, u.ID, c.PostForm("code"))
	switch {
	case errors.Is(err, twofactor.ErrBadCode):
		h.renderTwoFactor(c, u, http.StatusBadRequest, twoFactorPage{Error: "That code is not right. Enter the six digits the app shows now."})
		return
	case errors.Is(err, twofactor.ErrNoEnrolment):
		h.flashRedirect(c, "/account/two-factor", "Start the set-up again.")
		return
	case err != nil:
		h.log.ErrorContext(ctx, "confirm totp", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
		return
	}
	h.log.InfoContext(ctx, "two-factor on", "event", "totp_enabled", "user_id", u.ID)
	h.render(c.Writer, c.Request, http.StatusOK, "recovery_codes", "Recovery codes", u, recoveryCodesPage{Codes: codes})
}

// DisableTwoFactor serves POST /account/two-factor/disable: with the
// password or a current code, action=disable turns the authenticator off
// and action=recovery makes new recovery codes (shown once).
func (h *Handler) DisableTwoFactor(c *gin.Context) {
	if !h.twoFactorOn(c) {
		return
	}
	u := signedInUser(c)
	ctx := c.Request.Context()
	if status, msg := h.reauthenticate(c, u); status != 0 {
		h.renderTwoFactor(c, u, status, twoFactorPage{ReauthError: msg})
		return
	}
	if c.PostForm("action") == "recovery" {
		codes, err := h.cfg.TwoFactor.NewRecoveryCodes(ctx, u.ID)
		if err != nil {
			h.log.ErrorContext(ctx, "new recovery codes", "error", err)
			h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
			return
		}
		h.log.InfoContext(ctx, "new recovery codes", "event", "recovery_codes_renewed", "user_id", u.ID)
		h.render(c.Writer, c.Request, http.StatusOK, "recovery_codes", "Recovery codes", u, recoveryCodesPage{Codes: codes})
		return
	}
	if err := h.cfg.TwoFactor.DisableTOTP(ctx, u.ID); err != nil {
		h.log.ErrorContext(ctx, "disable totp", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
		return
	}
	h.log.InfoContext(ctx, "two-factor off", "event", "totp_disabled", "user_id", u.ID)
	h.flashRedirect(c, "/account/two-factor", "Your authenticator app is off.")
}

// reauthenticate checks the password or code fields of a form that
// changes the second factors: a stolen session alone cannot turn them
// off. Failures count in the same per-user throttle as the second step.
// It returns 0 when one of them is right, else a status and a message.
func (h *Handler) reauthenticate(c *gin.Context, u *storage.User) (int, string) {
	ctx := c.Request.Context()
	key := "2fa:" + u.ID
	if wait := h.secondFactor.Blocked(key); wait > 0 {
		h.rateLimited("login")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return http.StatusTooManyRequests, "Too many wrong attempts. Try again in " + waitText(wait) + "."
	}
	password, code := c.PostForm("password"), strings.TrimSpace(c.PostForm("code"))
	switch {
	case password != "" && len(password) <= 1024:
		err := accounts.CheckPassword(ctx, h.cfg.PasswordGate, h.store, h.log, u, password)
		if errors.Is(err, accounts.ErrBusy) {
			return http.StatusServiceUnavailable, "Busy; try again."
		}
		if err == nil {
			h.secondFactor.Reset(key)
			return 0, ""
		}
	case code != "" && len(code) <= 32:
		err := h.cfg.TwoFactor.Verify(ctx, u.ID, code)
		if err == nil {
			h.secondFactor.Reset(key)
			return 0, ""
		}
		if !errors.Is(err, twofactor.ErrBadCode) && !errors.Is(err, twofactor.ErrCodeUsed) {
			h.log.ErrorContext(ctx, "verify code", "error", err)
			return http.StatusInternalServerError, "Codes cannot be checked right now."
		}
	default:
		return http.StatusBadRequest, "Enter your password or a code."
	}
	h.secondFactor.Fail(key)
	return http.StatusUnauthorized, "That password or code is not right."
}
