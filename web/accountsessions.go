package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/clientip"
	"github.com/latchkey/latchkey/internal/textcheck"
	"github.com/latchkey/latchkey/storage"
)

// SessionRecords is the storage of browser sign-in sessions behind the
// session list on /account (storage.WebSessions).
type SessionRecords interface {
	CreateWebSession(ctx context.Context, s *storage.WebSession) error
	ListWebSessions(ctx context.Context, userID string, since, now time.Time) ([]storage.WebSession, error)
	EndWebSession(ctx context.Context, userID, sid string, at time.Time) error
	WebSessionEnded(ctx context.Context, sid string) (bool, error)
}

// maxUserAgent bounds the browser description kept for the list.
const maxUserAgent = 200

// recordSession stores a new sign-in session for the list. A failure is
// logged, not fatal: an unrecorded session works, it is only not listed.
func (h *Handler) recordSession(r *http.Request, u *storage.User, sid string, now time.Time) {
	if h.cfg.Sessions == nil {
		return
	}
	ua := r.UserAgent()
	if !textcheck.Valid(ua) {
		ua = ""
	}
	for len(ua) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-size]
	}
	rec := &storage.WebSession{SID: sid, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.SessionLifetime), UserAgent: ua, IP: clientip.FromRequest(r)}
	if err := h.cfg.Sessions.CreateWebSession(r.Context(), rec); err != nil {
		h.log.WarnContext(r.Context(), "record session", "error", err)
	}
}

// sessionEnded reports whether sid was signed out from the session list;
// when that cannot be read the session does not count (fail closed).
func (h *Handler) sessionEnded(r *http.Request, sid string) bool {
	if h.cfg.Sessions == nil {
		return false
	}
	ended, err := h.cfg.Sessions.WebSessionEnded(r.Context(), sid)
	if err != nil {
		h.log.ErrorContext(r.Context(), "session check", "error", err)
		return true
	}
	return ended
}

// sessionRow is one line of the session list.
type sessionRow struct {
	SID       string
	Created   pageTime
	UserAgent string
	IP        string
	Current   bool
}

// sessionRows lists u's live sessions for the account page, this browser's
// marked Current.
func (h *Handler) sessionRows(r *http.Request, u *storage.User) []sessionRow {
	if h.cfg.Sessions == nil {
		return nil
	}
	var since time.Time
	if u.SessionsNotBefore != nil {
		since = *u.SessionsNotBefore
	}
	list, err := h.cfg.Sessions.ListWebSessions(r.Context(), u.ID, since, h.cfg.Now())
	if err != nil {
		h.log.ErrorContext(r.Context(), "list sessions", "error", err)
		return nil
	}
	current := h.sessionID(r)
	rows := make([]sessionRow, 0, len(list))
	for _, s := range list {
		rows = append(rows, sessionRow{SID: s.SID, Created: newPageTime(s.CreatedAt), UserAgent: s.UserAgent, IP: s.IP, Current: s.SID == current})
	}
	return rows
}

// renderAccount renders the account page with the session list.
func (h *Handler) renderAccount(c *gin.Context, status int, u *storage.User, page accountPage) {
	page.Sessions = h.sessionRows(c.Request, u)
	page.Tenants = h.accountTenants(c, u)
	h.render(c.Writer, c.Request, status, "account", "Account", u, page)
}

// EndOtherSession serves POST /account/sessions/end: the session named by
// the form's sid (one of the person's own) is signed out, on every
// instance, from its next request on. This browser's own session is
// signed out with the header's Sign out button instead.
func (h *Handler) EndOtherSession(c *gin.Context) {
	u := signedInUser(c)
	r := c.Request
	sid := strings.TrimSpace(c.PostForm("sid"))
	if sid == "" || sid == h.sessionID(r) {
		h.flashRedirect(c, "/account", "To sign out of this browser, use Sign out at the top of the page.")
		return
	}
	err := h.cfg.Sessions.EndWebSession(r.Context(), u.ID, sid, h.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.flashRedirect(c, "/account", "That session is already over.")
	case err != nil:
		h.log.ErrorContext(r.Context(), "end session", "error", err)
		h.renderError(c.Writer, r, http.StatusInternalServerError, "server_error", "The session could not be signed out; try again.")
	default:
		h.log.InfoContext(r.Context(), "session signed out from the list", "event", "session_ended", "user_id", u.ID)
		if h.cfg.Logout != nil {
			h.cfg.Logout.SessionEnded(r.Context(), u.ID, sid) // Back-Channel Logout 1.0 §2.7
		}
		h.flashRedirect(c, "/account", "That session is signed out.")
	}
}
