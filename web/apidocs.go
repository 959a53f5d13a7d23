package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// APIDocs serves GET /docs/api: the OpenAPI document (apidoc, also served
// as JSON at /openapi.json) rendered for people, server-side, in the site
// layout — no script, so it works under the CSP and without JavaScript.
func (h *Handler) APIDocs(c *gin.Context) {
	if h.cfg.APIReference == nil {
		h.renderError(c.Writer, c.Request, http.StatusNotFound, "not_found", "This server publishes no API reference.")
		return
	}
	u, _ := h.currentUser(c.Request)
	h.render(c.Writer, c.Request, http.StatusOK, "api_docs", "API reference", u, h.cfg.APIReference)
}
