package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrInvalidCredential reports a credential that Latchkey does not accept:
// unknown, malformed, expired or revoked API keys, and access tokens that
// introspection (RFC 7662 §2.2) reports as inactive. [Verifier.Verify]
// returns errors matching it (test with errors.Is); [KeyTokenSource]
// reports a refused key as an [*Error] with Status 401 instead.
var ErrInvalidCredential = errors.New("latchkey: invalid credential")

// ErrRateLimited reports an API key that Latchkey verified but that has
// exhausted its rate limit (verification code RATE_LIMITED).
var ErrRateLimited = errors.New("latchkey: rate limited")

// ErrInvalidCheck reports a [Check] that cannot be asked: a
// TenantPermission other than "read" or "write", a TenantPermission
// without Tenant, an unusable tenant id, or a Permissions expression that
// does not parse (then the error also matches scopeexpr.ErrSyntax and
// holds the *scopeexpr.SyntaxError with its position). It says nothing
// about the credential: it is the resource server's own mistake.
var ErrInvalidCheck = errors.New("latchkey: invalid check")

// ErrUnavailable wraps every failure to get an answer about a credential:
// Latchkey unreachable, a transport error, an unexpected status or body, or
// a resource-server client that Latchkey refuses. It says nothing about the
// credential itself, so such results are never cached; middleware answers
// 503. The underlying error (often an [*Error]) stays reachable through
// errors.As / errors.Is.
var ErrUnavailable = errors.New("latchkey: unavailable")

// Error is an error answer from the Latchkey server: the HTTP status plus
// the error code and human-readable message of the body. The JSON API
// answers {"error": ..., "message": ...}; OAuth endpoints answer RFC 6749
// §5.2 {"error": ..., "error_description": ...}, whose description becomes
// Message. Retrieve it with errors.As.
type Error struct {
	// Status is the HTTP status code of the answer.
	Status int
	// Code is the machine-readable error code (for example
	// "invalid_api_key"); empty when the body was not a Latchkey error.
	Code string
	// Message is the human-readable explanation, if any.
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "latchkey: HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// maxBody bounds how much of any Latchkey answer is read.
const maxBody = 1 << 20

// errorFromResponse builds an *Error from a non-success answer, reading
// (a bounded part of) its body.
func errorFromResponse(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error            string `json:"error"`
		Message          string `json:"message"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Code = body.Error
		e.Message = body.Message
		if e.Message == "" {
			e.Message = body.ErrorDescription
		}
	}
	return e
}
