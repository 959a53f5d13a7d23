package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/storage"
)

// LogoutProvider is the part of the OAuth provider sign-out drives:
// OpenID Connect RP-Initiated Logout 1.0 requests and Back-Channel Logout
// 1.0 notices.
type LogoutProvider interface {
	// ParseLogout validates an RP-Initiated Logout request; its errors
	// wrap oauth.ErrInvalidLogout when the request is refused.
	ParseLogout(ctx context.Context, form url.Values) (*oauth.LogoutRequest, error)
	// SessionsEnded tells the clients every session of userID reached
	// that the sessions are over; it never blocks on them.
	SessionsEnded(ctx context.Context, userID string)
	// SessionEnded tells the clients userID's one session sid reached
	// that it is over; it never blocks on them.
	SessionEnded(ctx context.Context, userID, sid string)
	// GrantRevoked tells clientID that userID revoked its access.
	GrantRevoked(ctx context.Context, userID, clientID string)
	// SessionLive reports whether the verified hint of lr names a sign-in
	// session that has not ended and still holds the hint's client.
	SessionLive(ctx context.Context, lr *oauth.LogoutRequest) (bool, error)
}

// signOut ends the sign-in of u: on the server every session of the user
// that signed in before now ends (on every instance: currentUser checks
// User.SessionsNotBefore for the pages and the API alike), the clients
// those sessions reached are sent logout tokens, and this browser's cookies
// are expired. It is the one sign-out, for /logout and /oauth/logout.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, u *storage.User) error {
	if u != nil {
		if err := h.store.EndSessions(r.Context(), u.ID, h.cfg.Now()); err != nil {
			return err
		}
		if h.cfg.Logout != nil {
			h.cfg.Logout.SessionsEnded(r.Context(), u.ID)
		}
		h.log.InfoContext(r.Context(), "logout", "event", "logout", "user_id", u.ID)
	}
	h.endSession(w, r)
	return nil
}

// Logout serves POST /logout: the person's sessions end (signOut) and the
// browser goes to the login page. A form field next (an internal path,
// safeNext) is carried to the login page: the consent page's "Switch
// account" signs out and back in to the same authorization request.
func (h *Handler) Logout(c *gin.Context) {
	u, _ := h.currentUser(c.Request)
	if err := h.signOut(c.Writer, c.Request, u); err != nil {
		h.log.ErrorContext(c.Request.Context(), "end sessions", "error", err)
		h.renderError(c.Writer, c.Request, http.StatusInternalServerError, "server_error", "Sign-out failed; try again.")
		return
	}
	if next := safeNext(c.PostForm("next")); next != "/" {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
}

type hiddenField struct{ Name, Value string }

type logoutPage struct {
	SignedOut  bool
	ClientName string
	Fields     []hiddenField
}

// EndSession serves GET /oauth/logout, the end_session_endpoint (OpenID
// Connect RP-Initiated Logout 1.0 §2). With an id_token_hint of this
// browser's sign-in session (its sub and sid) — or, with no session on
// this browser, naming a session that is still live (hintedUser) — the
// sign-out happens at once; otherwise the person is
// asked to confirm (a CSRF-protected form to /oauth/logout/confirm), since
// any site can send a browser here. Afterwards the browser returns to the
// client's registered post_logout_redirect_uri with state, or sees the
// "You are signed out" page. A refused request ends on an error page,
// never in a redirect (§3).
func (h *Handler) EndSession(c *gin.Context) {
	r := c.Request
	lr, ok := h.parseLogout(c, r.URL.Query())
	if !ok {
		return
	}
	u, _ := h.currentUser(r)
	if u == nil {
		u = h.hintedUser(r, lr)
	} else if !h.hintOfSession(r, lr, u) {
		h.confirmLogout(c, lr, u)
		return
	}
	h.finishLogout(c, lr, u)
}

// hintOfSession reports whether lr's hint may sign u out of this browser
// without asking: it is u's ID token, issued to this very sign-in session
// (its sid), by an app the session still reaches (SessionLive). An old ID
// token of the person — from an ended session, kept by an app or leaked
// from one — or one of an app they revoked must not let any site sign
// them out by sending their browser here.
func (h *Handler) hintOfSession(r *http.Request, lr *oauth.LogoutRequest, u *storage.User) bool {
	if !lr.HintVerified || lr.Subject != u.ID || lr.SID == "" || lr.SID != h.sessionID(r) {
		return false
	}
	return h.hintedUser(r, lr) != nil
}

// confirmLogout shows u the "Sign out of Latchkey?" page for lr.
func (h *Handler) confirmLogout(c *gin.Context, lr *oauth.LogoutRequest, u *storage.User) {
	page := logoutPage{ClientName: lr.ClientName}
	form := lr.Form()
	for k := range form {
		page.Fields = append(page.Fields, hiddenField{Name: k, Value: form.Get(k)})
	}
	sort.Slice(page.Fields, func(i, j int) bool { return page.Fields[i].Name < page.Fields[j].Name })
	h.render(c.Writer, c.Request, http.StatusOK, "logout", "Sign out", u, page)
}

// hintedUser is the person a verified id_token_hint names when this
// browser has no session (a client calling from its server, as
// oauth2-proxy's backend logout does, or a browser whose cookie is gone)
// and the hint's session is still live: their sessions are ended as if
// they had signed out here. nil otherwise.
func (h *Handler) hintedUser(r *http.Request, lr *oauth.LogoutRequest) *storage.User {
	if !lr.HintVerified || lr.SID == "" {
		return nil
	}
	live, err := h.cfg.Logout.SessionLive(r.Context(), lr)
	if err != nil {
		h.log.ErrorContext(r.Context(), "logout: session check", "error", err)
		return nil
	}
	if !live {
		return nil
	}
	u, err := h.store.GetUser(r.Context(), lr.Subject)
	if err != nil {
		return nil
	}
	return u
}

// EndSessionPost serves POST /oauth/logout (§2: the endpoint accepts GET
// and POST). The client's form carries none of our CSRF tokens, so, as
// for /oauth/authorize, it is answered with a redirect to the equivalent
// GET, where the rest happens.
func (h *Handler) EndSessionPost(c *gin.Context) {
	h.postAsGet(c, func(form url.Values) string { return "/oauth/logout?" + logoutQuery(form) })
}

// ConfirmLogout serves POST /oauth/logout/confirm, the confirmation page's
// form (behind the CSRF check): the request is validated again and the
// person signed out.
func (h *Handler) ConfirmLogout(c *gin.Context) {
	lr, ok := h.parseLogout(c, c.Request.PostForm)
	if !ok {
		return
	}
	u, _ := h.currentUser(c.Request)
	h.finishLogout(c, lr, u)
}

// logoutQuery keeps the logout parameters of form (§2), in a stable order.
func logoutQuery(form url.Values) string {
	q := url.Values{}
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint"} {
		if v, ok := form[k]; ok {
			q[k] = v
		}
	}
	return q.Encode()
}

// parseLogout validates form, answering a refused request with the error
// page; ok is false when it did.
func (h *Handler) parseLogout(c *gin.Context, form url.Values) (*oauth.LogoutRequest, bool) {
	r := c.Request
	if h.cfg.Logout == nil {
		h.renderError(c.Writer, r, http.StatusNotFound, "not_found", "Sign-out for applications is not available.")
		return nil, false
	}
	lr, err := h.cfg.Logout.ParseLogout(r.Context(), form)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidLogout) {
			msg := strings.TrimPrefix(err.Error(), oauth.ErrInvalidLogout.Error()+": ")
			h.renderError(c.Writer, r, http.StatusBadRequest, "invalid_request", msg)
			return nil, false
		}
		h.log.ErrorContext(r.Context(), "logout request", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-out is unavailable right now.")
		return nil, false
	}
	return lr, true
}

// finishLogout signs u out (nil: nobody is signed in here) and sends the
// browser where lr says.
func (h *Handler) finishLogout(c *gin.Context, lr *oauth.LogoutRequest, u *storage.User) {
	r := c.Request
	if err := h.signOut(c.Writer, r, u); err != nil {
		h.log.ErrorContext(r.Context(), "end sessions", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "Sign-out failed; try again.")
		return
	}
	c.Header("Cache-Control", "no-store")
	if to := lr.ReturnURL(); to != "" {
		c.Redirect(http.StatusSeeOther, to)
		return
	}
	h.render(c.Writer, r, http.StatusOK, "logout", "Signed out", nil, logoutPage{SignedOut: true, ClientName: lr.ClientName})
}
