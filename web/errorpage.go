package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/logging"
)

// errorPage is the error page's data: a sentence for the person, and the
// technical detail (status, error code, the library's or protocol's own
// words, the request id) that the page folds away in <details>.
type errorPage struct {
	Status      int
	Error       string // e.g. "invalid_client" (RFC 6749 §4.1.2.1 codes on the authorize page)
	Description string // for the person
	Detail      string // technical; may be empty
	RequestID   string
}

// ErrorPage answers a page request with the HTML error page — the status,
// an RFC 6749-style error code and a sentence — and stops the handler
// chain. The server uses it for input refused before any page handler
// runs, and for unknown paths and methods asked by a browser.
func (h *Handler) ErrorPage(c *gin.Context, status int, code, desc string) {
	h.renderError(c.Writer, c.Request, status, code, desc)
	c.Abort()
}

// renderError shows the error page in the site layout, with the signed-in
// person in the header as on every other page.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	h.renderErrorDetail(w, r, status, code, desc, "")
}

func (h *Handler) renderErrorDetail(w http.ResponseWriter, r *http.Request, status int, code, desc, detail string) {
	u, _ := h.currentUser(r)
	h.render(w, r, status, "error", "Error", u, errorPage{
		Status: status, Error: code, Description: desc, Detail: detail, RequestID: logging.RequestID(r.Context()),
	})
}

// authorizeErrorText is what the person is told when an authorization
// request cannot be sent back to the app (RFC 6749 §4.1.2.1: an unknown
// client or a redirect URI that does not match is shown, never
// redirected). The protocol's own description goes under the technical
// details.
func authorizeErrorText(code string) string {
	switch code {
	case "invalid_client":
		return "The app that sent you here is not registered with Latchkey, so you cannot sign in to it from this link."
	case "unauthorized_client", "unsupported_response_type":
		return "The app that sent you here is not allowed to ask for sign-in this way."
	case "invalid_scope":
		return "The app that sent you here asked for permissions Latchkey does not offer it."
	case "invalid_request_uri", "invalid_request_object", "request_not_supported", "request_uri_not_supported":
		return "The app's sign-in request has expired or cannot be used. Go back to the app and start again."
	case "access_denied":
		return "Access was denied."
	case "server_error", "temporarily_unavailable":
		return "Latchkey could not finish signing you in. Try again in a moment."
	}
	return "The app that sent you here sent a sign-in request Latchkey cannot accept. Nothing is wrong with your account; the app's link needs fixing."
}

// PrefersHTML reports whether the client would rather have HTML than JSON
// (RFC 9110 §12.5.1 Accept): text/html (or application/xhtml+xml) is
// listed with a weight above zero, at least that of */* and above that of
// application/json or application/*. A browser's navigation sends
// "text/html,…,*/*;q=0.8"; curl's "*/*", a missing header and
// "application/json" get JSON.
func PrefersHTML(r *http.Request) bool {
	html, json, any := -1.0, -1.0, -1.0
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, params, _ := strings.Cut(part, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
						q = f
					}
				}
			}
			switch strings.ToLower(strings.TrimSpace(media)) {
			case "text/html", "application/xhtml+xml":
				html = max(html, q)
			case "application/json", "application/*":
				json = max(json, q)
			case "*/*":
				any = max(any, q)
			}
		}
	}
	return html > 0 && html >= any && html > json
}
