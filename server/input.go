package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/textcheck"
	"github.com/latchkey/latchkey/web"
)

// errorPager renders the HTML error page (Pages has it).
type errorPager interface {
	ErrorPage(c *gin.Context, status int, code, desc string)
}

// textHeaders are the request headers Latchkey (or fosite, gorilla/csrf)
// reads as text. net/http already refuses NUL and other control bytes in
// header values, but passes bytes ≥ 0x80 through unvalidated.
var textHeaders = []string{"Authorization", "Content-Type", "Accept", "Origin", "Referer", "X-Request-Id", "X-CSRF-Token", "DPoP"}

// checkInput refuses a request whose path, query or read headers hold a
// NUL byte or invalid UTF-8 (textcheck, the one rule), before any handler
// or store sees it: PostgreSQL refuses such text where SQLite stores it,
// so it must never reach storage. HTTP Basic credentials are checked after
// decoding, both as sent and URL-unescaped (RFC 6749 §2.3.1, as fosite
// reads client credentials). The answer is 400 invalid_request in the
// endpoint's own error format (errorFormat). Bodies are checked where they
// are decoded: api's JSON decoder, oauth's body decoder and checkForm.
func checkInput(pages errorPager) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := requestText(c.Request); err != nil {
			refuseText(c, pages, err)
			return
		}
		c.Next()
	}
}

// checkForm refuses a page form (URL-encoded or multipart) holding a NUL
// byte or invalid UTF-8 in any name or value. It runs after the CSRF check
// and parses the form exactly as the handlers' c.PostForm does, so the
// handlers read the values it checked; a bound on the body belongs before
// the CSRF check, which parses the form first.
func checkForm(pages errorPager) gin.HandlerFunc {
	return func(c *gin.Context) {
		_, _ = c.GetPostFormArray("") // fills the form cache the handlers read
		if err := textcheck.Values(c.Request.PostForm); err != nil {
			refuseText(c, pages, err)
			return
		}
		c.Next()
	}
}

func requestText(r *http.Request) error {
	if !textcheck.Valid(r.URL.Path) {
		return &textcheck.Error{Where: "the path"}
	}
	// ParseQuery keeps the pairs it could decode; those are what handlers
	// (c.Query, fosite's r.Form) read.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if err := textcheck.Values(q); err != nil {
		return err
	}
	for _, name := range textHeaders {
		for _, v := range r.Header.Values(name) {
			if !textcheck.Valid(v) {
				return &textcheck.Error{Where: "the " + name + " header"}
			}
		}
	}
	if user, pass, ok := r.BasicAuth(); ok {
		for _, s := range []string{user, pass} {
			u, err := url.QueryUnescape(s)
			if !textcheck.Valid(s) || (err == nil && !textcheck.Valid(u)) {
				return &textcheck.Error{Where: "the Basic credentials"}
			}
		}
	}
	return nil
}

// Error formats of the surfaces the server mounts.
const (
	formatAPI   = iota // SPEC §3.5 {"error","message"}
	formatOAuth        // RFC 6749 §5.2 {"error","error_description"}
	formatPage         // the HTML error page
)

// errorFormat names the error format of the endpoint at path: the OAuth
// protocol endpoints answer as RFC 6749 §5.2 says; the JSON API and the
// operational endpoints as SPEC §3.5 says; everything else — the pages, the
// authorization endpoint the browser is sent to, unknown paths — with the
// HTML error page. The end_session_endpoint is a browser endpoint like the
// authorization endpoint (RP-Initiated Logout 1.0 §2: the RP sends the
// person there), so its refusals are pages too.
func errorFormat(path string) int {
	switch {
	case path == "/oauth/authorize" || path == "/oauth/consent" || path == "/oauth/logout" || path == "/oauth/logout/confirm":
		return formatPage
	case strings.HasPrefix(path, "/oauth/") || strings.HasPrefix(path, "/.well-known/"):
		return formatOAuth
	case path == "/user" || strings.HasPrefix(path, "/user/") || strings.HasPrefix(path, "/v1/") ||
		strings.HasPrefix(path, "/tokens/") || path == "/healthz" || path == "/readyz" || path == "/metrics":
		return formatAPI
	}
	return formatPage
}

// refuse is the error writer for answers the server gives itself (unknown
// paths and methods): the HTML error page, in the site layout, to a
// browser (web.PrefersHTML) asking for a page-format path (errorFormat);
// the JSON API's error body (SPEC §3.5) to everyone else — scripts, and
// every request under the API and protocol paths, whatever it accepts.
func refuse(c *gin.Context, pages errorPager, status int, code, apiMsg, pageMsg string) {
	if pages != nil && errorFormat(c.Request.URL.Path) == formatPage && web.PrefersHTML(c.Request) {
		pages.ErrorPage(c, status, code, pageMsg)
		return
	}
	apiError(c, status, code, apiMsg)
}

// refuseText answers 400 invalid_request for bad text.
func refuseText(c *gin.Context, pages errorPager, err error) {
	msg := textcheck.Message(err)
	f := errorFormat(c.Request.URL.Path)
	if f == formatPage && pages == nil {
		f = formatAPI
	}
	switch f {
	case formatOAuth:
		if c.Request.URL.Path == "/oauth/userinfo" {
			// RFC 6750 §3.1: a protected resource's invalid_request.
			c.Header("WWW-Authenticate", `Bearer error="invalid_request"`)
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "invalid_request", "error_description": msg})
	case formatPage:
		pages.ErrorPage(c, http.StatusBadRequest, "invalid_request", msg)
		c.Abort()
	default:
		apiError(c, http.StatusBadRequest, "invalid_request", msg)
	}
}
