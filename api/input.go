package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/internal/textcheck"
)

// jsonTextOK refuses a JSON body holding invalid UTF-8 or a string (object
// keys and nested values included) with a NUL byte — textcheck's rule —
// with 400 invalid_request (SPEC §3.5); it reports whether the body passed.
// encoding/json would decode "\u0000" into a Go string that PostgreSQL then
// refuses, and would quietly turn invalid bytes into U+FFFD.
func jsonTextOK(c *gin.Context, body []byte) bool {
	if err := textcheck.JSON(body); err != nil {
		writeError(c, http.StatusBadRequest, "invalid_request", textcheck.Message(err))
		return false
	}
	return true
}
