package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
)

// deleteErrors holds the delete-account form's messages.
type deleteErrors struct {
	Current, Username string
}

// DeletedPath is the signed-out page shown once an account is deleted.
const DeletedPath = "/account/deleted"

// DeleteAccount serves POST /account/delete: with the person's password
// and their username typed out (and the form's CSRF token, as every form)
// the account goes for good — API keys, grants, owned apps, sessions and
// mailed links (accounts.SelfService.DeleteAccount, one transaction). The
// apps the person had granted and the apps their sessions reached are
// sent back-channel logout tokens, as "Revoke access" and sign-out do;
// this browser's session cookie is expired and it lands on DeletedPath.
// A wrong password counts against the same throttle as a password change.
func (h *Handler) DeleteAccount(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	typed := strings.TrimSpace(c.PostForm("confirm_username"))
	guessKey := "chpw:" + u.ID // the same guess as a password change
	if wait := h.throttle.Blocked(guessKey); wait > 0 {
		h.rateLimited("password_change")
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		page := newAccountPage(u)
		page.DeleteTyped = typed
		page.DeleteErrors.Current = "Too many wrong passwords. Wait a minute and try again."
		h.renderAccount(c, http.StatusTooManyRequests, u, page)
		return
	}
	del, err := h.cfg.Account.DeleteAccount(r.Context(), u, c.PostForm("current_password"), typed)
	var fe accounts.FieldErrors
	switch {
	case errors.As(err, &fe):
		page := newAccountPage(u)
		page.DeleteTyped = typed
		page.DeleteErrors = deleteErrors{Current: fe.Message(accounts.FieldCurrentPassword), Username: fe.Message(accounts.FieldConfirmUsername)}
		h.renderAccount(c, h.currentPasswordStatus(c, guessKey, page.DeleteErrors.Current), u, page)
		return
	case errors.Is(err, accounts.ErrBusy):
		h.renderError(c.Writer, r, http.StatusServiceUnavailable, "unavailable", "Account deletion is busy; try again.")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "delete account", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Your account could not be deleted; nothing was changed. Try again.")
		return
	}
	h.log.InfoContext(r.Context(), "account deleted", "event", "account_deleted", "user_id", u.ID,
		"keys", del.Keys, "granted_clients", len(del.GrantedClients), "owned_clients", len(del.OwnedClients))
	if h.cfg.Logout != nil {
		for _, clientID := range del.GrantedClients {
			h.cfg.Logout.GrantRevoked(r.Context(), u.ID, clientID) // Back-Channel Logout 1.0
		}
		h.cfg.Logout.SessionsEnded(r.Context(), u.ID)
	}
	h.endSession(c.Writer, r)
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, DeletedPath)
}

// AccountDeleted serves GET /account/deleted: the signed-out page saying
// the account was deleted.
func (h *Handler) AccountDeleted(c *gin.Context) {
	h.render(c.Writer, c.Request, http.StatusOK, "account_deleted", "Account deleted", nil, nil)
}
