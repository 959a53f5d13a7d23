package web

import "github.com/gin-gonic/gin"

// ErrorPage answers a page request with the HTML error page — the status,
// an RFC 6749-style error code and a sentence — and stops the handler
// chain. The server uses it for input refused before any page handler runs.
func (h *Handler) ErrorPage(c *gin.Context, status int, code, desc string) {
	h.renderError(c.Writer, c.Request, status, code, desc)
	c.Abort()
}
