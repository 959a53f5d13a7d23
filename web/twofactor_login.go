package web

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/twofactor"
)

// secondStepLifetime bounds the half-signed-in state between a right
// password and the second factor.
const secondStepLifetime = 5 * time.Minute

// Wrong second-factor codes allowed per user: SecondFactorLimit per
// SecondFactorWindow. A six-digit code is one of a million (three accepted
// with the drift), and whoever guesses already holds the password, so the
// window is long (RFC 6238 §5.2): 480 guesses a day, not the 14,400 of
// the login throttle's ten a minute (a 4% chance a day of getting in).
const (
	SecondFactorLimit  = 5
	SecondFactorWindow = 15 * time.Minute
)

// Authentication methods of a sign-in (RFC 8176 §2), kept in the session
// ("amr") and put in the ID tokens it obtains (oauth.Grant.Methods).
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
)

// startSignedIn signs u in on a fresh session (see startSession) that
// records how: methods are RFC 8176 values ("pwd", "otp", "hwk", …).
//
// A session this browser held before (a sign-in again: prompt=login,
// max_age, acr_values, another account) is ended in the session list: its
// cookie is replaced here, and a copy of it must not stay signed in as a
// row nobody can recognise.
func (h *Handler) startSignedIn(w http.ResponseWriter, r *http.Request, u *storage.User, flash string, methods []string) error {
	var oldUID, oldSID string
	if old, err := h.sessions.Get(r, h.sessionName); err == nil {
		oldUID, _ = old.Values["uid"].(string)
		oldSID, _ = old.Values["sid"].(string)
	}
	s, _ := h.sessions.New(r, h.sessionName)
	now := h.cfg.Now()
	s.Values = map[interface{}]interface{}{
		"uid":       u.ID,
		"sid":       randomToken(),
		"auth_time": now.Unix(),
		"auth_ns":   now.UnixNano(),
		"amr":       strings.Join(methods, " "),
	}
	if flash != "" {
		s.Values["flash"] = flash
	}
	if err := s.Save(r, w); err != nil {
		return err
	}
	h.dropCSRFToken(w)
	h.recordSession(r, u, s.Values["sid"].(string), now)
	if oldUID != "" && oldSID != "" && h.cfg.Sessions != nil {
		if err := h.cfg.Sessions.EndWebSession(r.Context(), oldUID, oldSID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.WarnContext(r.Context(), "end the replaced session", "error", err)
		}
	}
	return nil
}

// sessionMethods returns how r's session signed in (RFC 8176 values);
// a session from before methods were recorded signed in with a password.
func (h *Handler) sessionMethods(r *http.Request) []string {
	s, err := h.sessions.Get(r, h.sessionName)
	if err != nil {
		return nil
	}
	if m, ok := s.Values["amr"].(string); ok && m != "" {
		return strings.Fields(m)
	}
	if _, ok := s.Values["uid"].(string); ok {
		return []string{amrPassword}
	}
	return nil
}

// needsSecondStep reports whether u signs in with two factors. An error
// (the store is down) refuses the sign-in: it never skips the factor.
func (h *Handler) needsSecondStep(r *http.Request, u *storage.User) (bool, error) {
	if h.cfg.TwoFactor == nil {
		return false, nil
	}
	return h.cfg.TwoFactor.Enabled(r.Context(), u.ID)
}

// beginSecondStep replaces r's session with the half-signed-in state of a
// right password: "pending_uid", never "uid", so currentUser — the one
// session check of pages and API — finds nobody, and only the second-step
// page reads it.
func (h *Handler) beginSecondStep(c *gin.Context, u *storage.User, next string) error {
	s, _ := h.sessions.New(c.Request, h.sessionName)
	s.Values = map[interface{}]interface{}{
		"pending_uid":  u.ID,
		"pending_ns":   h.cfg.Now().UnixNano(),
		"pending_next": next,
	}
	if err := s.Save(c.Request, c.Writer); err != nil {
		return err
	}
	h.dropCSRFToken(c.Writer)
	return nil
}

// beginStepUp adds the second step's state for u to r's signed-in
// session, which stays signed in meanwhile: a link that asks for a second
// factor cannot sign the person out, and the completed step starts a new
// session (completeSignIn) whose methods add the factor to the password.
func (h *Handler) beginStepUp(c *gin.Context, u *storage.User, next string) error {
	s, err := h.sessions.Get(c.Request, h.sessionName)
	if err != nil {
		return err
	}
	s.Values["pending_uid"] = u.ID
	s.Values["pending_ns"] = h.cfg.Now().UnixNano()
	s.Values["pending_next"] = next
	return s.Save(c.Request, c.Writer)
}

// pendingUser returns the user whose password was right on this browser
// within secondStepLifetime and the page to go to afterwards, or nil.
func (h *Handler) pendingUser(r *http.Request) (*storage.User, string) {
	s, err := h.sessions.Get(r, h.sessionName)
	if err != nil {
		return nil, ""
	}
	uid, _ := s.Values["pending_uid"].(string)
	ns, _ := s.Values["pending_ns"].(int64)
	next, _ := s.Values["pending_next"].(string)
	if uid == "" || h.cfg.Now().Sub(time.Unix(0, ns)) >= secondStepLifetime {
		return nil, ""
	}
	u, err := h.store.GetUser(r.Context(), uid)
	if err != nil || (u.SessionsNotBefore != nil && ns < u.SessionsNotBefore.UnixNano()) {
		return nil, ""
	}
	return u, safeNext(next)
}

type secondStepPage struct {
	Username    string
	HasTOTP     bool
	HasPasskey  bool
	HasRecovery bool
	Error       string
}

// secondStepPage describes the second step for u: which factors to offer.
func (h *Handler) secondStepPage(r *http.Request, u *storage.User) (secondStepPage, error) {
	st, err := h.cfg.TwoFactor.Status(r.Context(), u.ID)
	if err != nil {
		return secondStepPage{}, err
	}
	return secondStepPage{Username: u.Username, HasTOTP: st.TOTP, HasPasskey: len(st.Passkeys) > 0, HasRecovery: st.RecoveryLeft > 0}, nil
}

// SecondStepForm serves GET /login/two-factor: the second factor after a
// right password; without that state, back to the login page.
func (h *Handler) SecondStepForm(c *gin.Context) {
	u, _ := h.pendingUser(c.Request)
	if u == nil || h.cfg.TwoFactor == nil {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	page, err := h.secondStepPage(c.Request, u)
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "two-factor status", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	h.render(c.Writer, c.Request, http.StatusOK, "login_two_factor", "Two-factor sign-in", nil, page)
}

// SecondStep serves POST /login/two-factor: a TOTP code or a recovery
// code completes the sign-in. Codes are single-use (twofactor.Verify) and
// wrong ones are counted per user (SecondFactorLimit per
// SecondFactorWindow), so the six digits cannot be guessed at speed.
func (h *Handler) SecondStep(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	u, next := h.pendingUser(r)
	if u == nil || h.cfg.TwoFactor == nil {
		h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request",
			"This sign-in has expired. Sign in again with your password.")
		return
	}
	page, err := h.secondStepPage(r, u)
	if err != nil {
		h.log.ErrorContext(ctx, "two-factor status", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	key := "2fa:" + u.ID
	ip := clientip.FromRequest(r)
	if wait := h.secondFactor.Blocked(key); wait > 0 {
		h.rateLimited("login")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		h.log.InfoContext(ctx, "second factor refused: too many failures", "event", "second_factor_throttled", "user_id", u.ID, "client_ip", ip)
		page.Error = "Too many wrong codes. Try again in " + waitText(wait) + "."
		h.render(c.Writer, r, http.StatusTooManyRequests, "login_two_factor", "Two-factor sign-in", nil, page)
		return
	}
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" || len(code) > 32 {
		page.Error = "Enter the code from your authenticator app or a recovery code."
		h.render(c.Writer, r, http.StatusBadRequest, "login_two_factor", "Two-factor sign-in", nil, page)
		return
	}
	if err := h.cfg.TwoFactor.Verify(ctx, u.ID, code); err != nil {
		if !errors.Is(err, twofactor.ErrBadCode) && !errors.Is(err, twofactor.ErrCodeUsed) {
			h.log.ErrorContext(ctx, "second factor", "error", err)
			h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
			return
		}
		h.secondFactor.Fail(key)
		h.countSignIn(storage.OutcomeSignInFailed)
		h.log.WarnContext(ctx, "second factor failed", "event", "second_factor_failed", "user_id", u.ID, "client_ip", ip,
			"replay", errors.Is(err, twofactor.ErrCodeUsed))
		page.Error = "That code is not right, or was already used. Wait for the next code and try again."
		h.render(c.Writer, r, http.StatusUnauthorized, "login_two_factor", "Two-factor sign-in", nil, page)
		return
	}
	h.secondFactor.Reset(key)
	h.completeSignIn(c, u, next, []string{amrPassword, amrOTP}, slog.String("second_factor", amrOTP))
}

// completeSignIn starts u's session with methods, issues the device
// cookie and goes to next.
func (h *Handler) completeSignIn(c *gin.Context, u *storage.User, next string, methods []string, extra ...any) {
	r := c.Request
	if err := h.startSignedIn(c.Writer, r, u, "Signed in as "+u.Username+".", methods); err != nil {
		h.log.ErrorContext(r.Context(), "save session", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	if err := h.devices.issue(c.Writer, u.Username); err != nil {
		h.log.WarnContext(r.Context(), "device cookie", "error", err)
	}
	h.countSignIn(storage.OutcomeSignIn)
	h.log.InfoContext(r.Context(), "login", append([]any{"event", "login", "user_id", u.ID, "client_ip", clientip.FromRequest(r),
		"amr", strings.Join(methods, " ")}, extra...)...)
	c.Redirect(http.StatusSeeOther, next)
}

// toSecondStep answers a right password of a user with two factors: the
// half-signed-in state and the second-step page. err is the failure to
// find out whether the user has them; it refuses the sign-in.
func (h *Handler) toSecondStep(c *gin.Context, u *storage.User, next string, err error) {
	r := c.Request
	if err == nil {
		err = h.beginSecondStep(c, u, next)
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "begin second step", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	h.log.InfoContext(r.Context(), "password accepted; second factor asked", "event", "second_factor_asked",
		"user_id", u.ID, "client_ip", clientip.FromRequest(r))
	c.Redirect(http.StatusSeeOther, "/login/two-factor")
}
