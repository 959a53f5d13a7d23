package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/twofactor"
)

// PasskeyService is what the pages use of twofactor.Passkeys.
type PasskeyService interface {
	BeginRegistration(ctx context.Context, u *storage.User) (options, state []byte, err error)
	FinishRegistration(ctx context.Context, u *storage.User, state, response []byte, name string) error
	BeginLogin(ctx context.Context, u *storage.User) (options, state []byte, err error)
	FinishLogin(ctx context.Context, u *storage.User, state, response []byte) (*storage.User, []string, error)
	Remove(ctx context.Context, userID, id string) error
}

// passkeyRow is one registered passkey as the page lists it.
type passkeyRow struct {
	ID, Name string
	Created  pageTime
	LastUsed pageTime
}

func passkeyRows(ps []storage.Passkey) []passkeyRow {
	out := make([]passkeyRow, 0, len(ps))
	for _, p := range ps {
		row := passkeyRow{ID: p.ID, Name: p.Name, Created: newPageTime(p.CreatedAt)}
		if p.LastUsedAt != nil {
			row.LastUsed = newPageTime(*p.LastUsedAt)
		}
		out = append(out, row)
	}
	return out
}

// Session keys of a passkey ceremony in progress: its state (challenge)
// and, for a sign-in, whose second factor it is ("" = passwordless).
const (
	sessRegistration = "wa_reg"
	sessLogin        = "wa_login"
	sessLoginFor     = "wa_login_for"
	// sessNewCodes holds recovery codes to show once (sealed cookie).
	sessNewCodes = "new_recovery_codes"
)

// passkeyJSON answers a passkey endpoint (called by static/passkey.js).
func passkeyJSON(c *gin.Context, status int, body any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, body)
}

func passkeyError(c *gin.Context, status int, code, msg string) {
	passkeyJSON(c, status, gin.H{"error": code, "message": msg})
}

// keepCeremony stores values in r's session.
func (h *Handler) keepCeremony(c *gin.Context, kv map[string]string) error {
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	for k, v := range kv {
		s.Values[k] = v
	}
	return s.Save(c.Request, c.Writer)
}

// takeCeremony removes and returns the values of keys from r's session:
// each ceremony state is answered once.
func (h *Handler) takeCeremony(c *gin.Context, keys ...string) []string {
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i], _ = s.Values[k].(string)
		delete(s.Values, k)
	}
	_ = s.Save(c.Request, c.Writer)
	return out
}

// passkeysOn answers 404 when passkeys are not wired.
func (h *Handler) passkeysOn(c *gin.Context) bool {
	if h.cfg.Passkeys == nil || h.cfg.TwoFactor == nil {
		passkeyError(c, http.StatusNotFound, "not_found", "Passkeys are not available here.")
		return false
	}
	return true
}

// BeginPasskeyRegistration serves POST /account/two-factor/passkeys/begin:
// the creation options for navigator.credentials.create.
func (h *Handler) BeginPasskeyRegistration(c *gin.Context) {
	if !h.passkeysOn(c) {
		return
	}
	if !h.signedInRecently(c.Request) { // as EnrolTOTP
		passkeyError(c, http.StatusForbidden, "reauthentication_required", reauthMessage)
		return
	}
	u := signedInUser(c)
	options, state, err := h.cfg.Passkeys.BeginRegistration(c.Request.Context(), u)
	if err == nil {
		err = h.keepCeremony(c, map[string]string{sessRegistration: string(state)})
	}
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "begin passkey registration", "error", err)
		passkeyError(c, http.StatusInternalServerError, "server_error", "Passkeys are unavailable right now.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", options)
}

// FinishPasskeyRegistration serves POST /account/two-factor/passkeys/finish
// (?name=…): the browser's new credential, verified and stored.
func (h *Handler) FinishPasskeyRegistration(c *gin.Context) {
	if !h.passkeysOn(c) {
		return
	}
	u := signedInUser(c)
	ctx := c.Request.Context()
	state := h.takeCeremony(c, sessRegistration)[0]
	body, err := io.ReadAll(c.Request.Body)
	if state == "" || err != nil || len(body) == 0 {
		passkeyError(c, http.StatusBadRequest, "invalid_request", "This passkey set-up has expired. Start again.")
		return
	}
	if err := h.cfg.Passkeys.FinishRegistration(ctx, u, []byte(state), body, twofactor.PasskeyName(c.Query("name"))); err != nil {
		if errors.Is(err, twofactor.ErrPasskey) {
			h.log.InfoContext(ctx, "passkey registration refused", "user_id", u.ID, "error", err)
			passkeyError(c, http.StatusBadRequest, "invalid_request", "The passkey was not accepted. Try again.")
			return
		}
		h.log.ErrorContext(ctx, "finish passkey registration", "error", err)
		passkeyError(c, http.StatusInternalServerError, "server_error", "Passkeys are unavailable right now.")
		return
	}
	h.log.InfoContext(ctx, "passkey added", "event", "passkey_added", "user_id", u.ID)
	// The first second factor brings recovery codes, so losing the
	// passkey does not lock the account out; they are shown once, from
	// the sealed session cookie, by the page the script goes to next.
	if st, err := h.cfg.TwoFactor.Status(ctx, u.ID); err == nil && st.RecoveryLeft == 0 {
		codes, err := h.cfg.TwoFactor.NewRecoveryCodes(ctx, u.ID)
		if err == nil && h.keepCeremony(c, map[string]string{sessNewCodes: strings.Join(codes, " ")}) == nil {
			passkeyJSON(c, http.StatusOK, gin.H{"redirect": "/account/two-factor/recovery-codes"})
			return
		}
		h.log.ErrorContext(ctx, "recovery codes for a passkey", "error", err)
	}
	h.setFlash(c, "Passkey added.")
	passkeyJSON(c, http.StatusOK, gin.H{"redirect": "/account/two-factor"})
}

// NewRecoveryCodesPage serves GET /account/two-factor/recovery-codes: the
// recovery codes made with the first passkey, shown once.
func (h *Handler) NewRecoveryCodesPage(c *gin.Context) {
	u := signedInUser(c)
	codes := strings.Fields(h.takeCeremony(c, sessNewCodes)[0])
	if len(codes) == 0 {
		c.Redirect(http.StatusSeeOther, "/account/two-factor")
		return
	}
	h.render(c.Writer, c.Request, http.StatusOK, "recovery_codes", "Recovery codes", u, recoveryCodesPage{Codes: codes})
}

// setFlash leaves msg for the next page without redirecting.
func (h *Handler) setFlash(c *gin.Context, msg string) {
	s, _ := h.sessions.Get(c.Request, h.sessionName)
	s.Values["flash"] = msg
	_ = s.Save(c.Request, c.Writer)
}

// RemovePasskey serves POST /account/two-factor/passkeys/remove: with
// the password or a code (reauthenticate), the passkey id is removed.
func (h *Handler) RemovePasskey(c *gin.Context) {
	if h.cfg.Passkeys == nil || !h.twoFactorOn(c) {
		return
	}
	u := signedInUser(c)
	ctx := c.Request.Context()
	if status, msg := h.reauthenticate(c, u); status != 0 {
		h.renderTwoFactor(c, u, status, twoFactorPage{PasskeyError: msg})
		return
	}
	if err := h.cfg.Passkeys.Remove(ctx, u.ID, c.PostForm("id")); err != nil && !errors.Is(err, twofactor.ErrPasskey) {
		h.log.ErrorContext(ctx, "remove passkey", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Two-factor settings are unavailable right now.")
		return
	}
	h.log.InfoContext(ctx, "passkey removed", "event", "passkey_removed", "user_id", u.ID)
	h.flashRedirect(c, "/account/two-factor", "Passkey removed.")
}

// BeginPasskeyLogin serves POST /login/passkey/begin: after a right
// password (the second step), the options for that user's passkeys;
// otherwise for any passkey of this site (passwordless sign-in).
func (h *Handler) BeginPasskeyLogin(c *gin.Context) {
	if !h.passkeysOn(c) {
		return
	}
	ctx := c.Request.Context()
	pending, _ := h.pendingUser(c.Request)
	forID := ""
	if pending != nil {
		forID = pending.ID
	}
	options, state, err := h.cfg.Passkeys.BeginLogin(ctx, pending)
	if errors.Is(err, twofactor.ErrPasskey) {
		passkeyError(c, http.StatusBadRequest, "invalid_request", "This account has no passkey.")
		return
	}
	if err == nil {
		err = h.keepCeremony(c, map[string]string{sessLogin: string(state), sessLoginFor: forID})
	}
	if err != nil {
		h.log.ErrorContext(ctx, "begin passkey login", "error", err)
		passkeyError(c, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", options)
}

// FinishPasskeyLogin serves POST /login/passkey/finish (?next=…): the
// browser's assertion. As the second factor it completes the sign-in the
// password began (amr pwd + hwk/swk); alone, a passkey that verified the
// user signs in (amr hwk/swk + mfa). The answer names the page to go to.
func (h *Handler) FinishPasskeyLogin(c *gin.Context) {
	if !h.passkeysOn(c) {
		return
	}
	r := c.Request
	ctx := r.Context()
	pending, pendingNext := h.pendingUser(r)
	vals := h.takeCeremony(c, sessLogin, sessLoginFor)
	state, forID := vals[0], vals[1]
	body, err := io.ReadAll(r.Body)
	expired := state == "" || err != nil || len(body) == 0
	if !expired && forID != "" && (pending == nil || pending.ID != forID) {
		expired = true // the second step it was begun for is over
	}
	if expired {
		passkeyError(c, http.StatusBadRequest, "invalid_request", "This sign-in has expired. Start again.")
		return
	}
	var expect *storage.User
	next := safeNext(c.Query("next"))
	if forID != "" {
		expect, next = pending, pendingNext
	}
	u, methods, err := h.cfg.Passkeys.FinishLogin(ctx, expect, []byte(state), body)
	if err != nil {
		if errors.Is(err, twofactor.ErrPasskey) {
			h.log.WarnContext(ctx, "passkey sign-in failed", "event", "passkey_failed", "error", err)
			h.countSignIn(storage.OutcomeSignInFailed)
			passkeyError(c, http.StatusUnauthorized, "unauthorized", "The passkey was not accepted.")
			return
		}
		h.log.ErrorContext(ctx, "finish passkey login", "error", err)
		passkeyError(c, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	if expect != nil {
		methods = append([]string{amrPassword}, slices.DeleteFunc(methods, func(m string) bool { return m == "mfa" })...)
	}
	if err := h.startSignedIn(c.Writer, r, u, "Signed in as "+u.Username+".", methods); err != nil {
		h.log.ErrorContext(ctx, "save session", "error", err)
		passkeyError(c, http.StatusInternalServerError, "server_error", "Sign-in is unavailable right now.")
		return
	}
	if err := h.devices.issue(c.Writer, u.Username); err != nil {
		h.log.WarnContext(ctx, "device cookie", "error", err)
	}
	h.log.InfoContext(ctx, "login", "event", "login", "user_id", u.ID, "amr", methods)
	h.countSignIn(storage.OutcomeSignIn)
	passkeyJSON(c, http.StatusOK, gin.H{"redirect": next})
}
