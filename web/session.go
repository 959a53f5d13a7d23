package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/storage"
)

// sessionIdle is the sliding bound of a browser session: the cookie's
// Max-Age, renewed whenever the session is saved again, and enforced on
// the server too (the cookie codec refuses older values). The absolute
// bound beside it is Config.SessionLifetime.
const sessionIdle = 12 * time.Hour

// currentUser returns the signed-in user of r and when they authenticated,
// or nil. It is the one session check, for the pages and — through
// SessionUserID — the JSON API's cookie authentication alike. A session
// counts only when its cookie is authentic and was issued within
// sessionIdle, its login lies within Config.SessionLifetime, its user
// still exists, it began after the user's last logout
// (User.SessionsNotBefore, set by Logout on every instance's database),
// and it was not signed out from the session list (sessionEnded).
func (h *Handler) currentUser(r *http.Request) (*storage.User, time.Time) {
	s, err := h.sessions.Get(r, h.sessionName)
	if err != nil {
		return nil, time.Time{}
	}
	uid, _ := s.Values["uid"].(string)
	at, _ := s.Values["auth_time"].(int64)
	if uid == "" {
		return nil, time.Time{}
	}
	ns, ok := s.Values["auth_ns"].(int64)
	if !ok {
		ns = at * int64(time.Second)
	}
	login := time.Unix(0, ns)
	if h.cfg.Now().Sub(login) >= h.cfg.SessionLifetime {
		return nil, time.Time{} // past the absolute lifetime: sign in again
	}
	u, err := h.store.GetUser(r.Context(), uid)
	if err != nil {
		return nil, time.Time{}
	}
	if u.SuspendedAt != nil {
		// A suspended account's sessions stop at their next request.
		return nil, time.Time{}
	}
	if u.SessionsNotBefore != nil && ns < u.SessionsNotBefore.UnixNano() {
		// Sessions older than the user's last logout are over, wherever
		// their cookie turns up.
		return nil, time.Time{}
	}
	if sid, _ := s.Values["sid"].(string); sid != "" && h.sessionEnded(r, sid) {
		return nil, time.Time{} // signed out from the session list
	}
	return u, time.Unix(at, 0)
}

// sessionID returns the opaque id of r's sign-in session (set by
// startSession), the sid claim of the ID tokens it obtains (OpenID Connect
// Back-Channel Logout 1.0 §2.1); "" when there is none.
func (h *Handler) sessionID(r *http.Request) string {
	s, err := h.sessions.Get(r, h.sessionName)
	if err != nil {
		return ""
	}
	sid, _ := s.Values["sid"].(string)
	return sid
}

// SessionUserID returns the id of the user signed in on this browser
// request, for the JSON API's cookie authentication. It is currentUser,
// so a cookie the pages refuse (logged out, expired, user gone) is refused
// by the API too.
func (h *Handler) SessionUserID(r *http.Request) (string, bool) {
	u, _ := h.currentUser(r)
	if u == nil {
		return "", false
	}
	return u.ID, true
}

// userKey is the gin context key under which RequireUser leaves the
// signed-in user for the handlers behind it.
const userKey = "web.user"

// RequireUser is gin middleware for the pages only a signed-in person may
// see: it puts the signed-in user (currentUser) in the gin context for
// signedInUser, or redirects with 303 to the login page — coming back to
// this page afterwards (the path of a GET; "/" after any other method,
// whose form cannot be replayed) — and stops the chain.
func (h *Handler) RequireUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		u, _ := h.currentUser(c.Request)
		if u == nil {
			next := c.Request.URL.Path
			if c.Request.Method != http.MethodGet {
				next = "/"
			}
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
			c.Abort()
			return
		}
		c.Set(userKey, u)
		c.Next()
	}
}

// signedInUser returns the user RequireUser found. A handler calling it
// must be mounted behind RequireUser; one that is not is a wiring mistake,
// and it panics rather than serve the page to nobody in particular.
func signedInUser(c *gin.Context) *storage.User {
	u, ok := c.Get(userKey)
	if !ok {
		panic("web: " + c.FullPath() + " is not behind RequireUser")
	}
	return u.(*storage.User)
}

// startSession signs u in on a fresh session (a new session id, every old
// value dropped) with an optional flash message for the next page. The
// CSRF token is dropped too, so a token learned before the sign-in (say,
// planted for a login CSRF) is worthless after it; the next page issues a
// new one.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, u *storage.User, flash string) error {
	return h.startSignedIn(w, r, u, flash, []string{amrPassword})
}

// dropCSRFToken expires the CSRF cookie; the next page the browser loads
// gets a new token.
func (h *Handler) dropCSRFToken(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: h.csrfName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.cfg.Secure, SameSite: http.SameSiteLaxMode,
	})
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

// takeFlash returns the flash message waiting in r's session, or "", and
// removes it so it is shown once.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) string {
	s, err := h.sessions.Get(r, h.sessionName)
	if err != nil {
		return ""
	}
	f, ok := s.Values["flash"].(string)
	if !ok || f == "" {
		return ""
	}
	delete(s.Values, "flash")
	_ = s.Save(r, w)
	return f
}

// endSession expires the session cookie and the CSRF cookie on this
// browser (Logout ends the user's other sessions on the server).
//
// It empties the request's own session object (the one Get returns for
// the rest of the request), so a page rendered afterwards finds no flash
// to take and cannot save the old values back.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	s, _ := h.sessions.Get(r, h.sessionName)
	s.Values = map[interface{}]interface{}{}
	s.Options.MaxAge = -1
	_ = s.Save(r, w)
	h.dropCSRFToken(w)
}
