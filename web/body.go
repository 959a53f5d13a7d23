package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// maxPageBody bounds every request body behind the CSRF check: the
// pages' forms and the JSON API's cookie-authenticated requests, both a
// few hundred bytes in practice.
const maxPageBody = 64 << 10

// bodyProblem is why readBody refused a body: the status, the API's error
// body (SPEC §3.5) and the sentence for an error page.
type bodyProblem struct {
	status          int
	apiCode, apiMsg string
	pageMsg         string
}

var (
	multipartBody = &bodyProblem{http.StatusUnsupportedMediaType,
		"invalid_request", "Multipart bodies are not accepted here; send JSON or a URL-encoded form.",
		"This form was sent in a way this site does not accept. Go back, reload the page and try again."}
	tooLargeBody = &bodyProblem{http.StatusRequestEntityTooLarge,
		"payload_too_large", fmt.Sprintf("The request body is larger than %d bytes.", maxPageBody),
		"This request is too large."}
	unreadableBody = &bodyProblem{http.StatusBadRequest,
		"invalid_request", "The request body could not be read.",
		"This request could not be read. Go back, reload the page and try again."}
)

// readBody runs before the CSRF check (and the authorization endpoint's
// POST) reads the body. It bounds the body to maxPageBody (413 beyond),
// refuses multipart bodies (415: no form of ours uses one, and parsing
// one spools its files to disk — the CSRF middleware parses a copy of the
// request, whose files net/http never removes), and parses a URL-encoded
// form once, so the CSRF check and the handler read the parsed values.
// It returns why it refused the body, or nil.
func readBody(w http.ResponseWriter, r *http.Request) *bodyProblem {
	if r.Body == nil {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
			return multipartBody
		}
	}
	if r.ContentLength > maxPageBody {
		return tooLargeBody
	}
	if r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, maxPageBody)
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	if err := r.ParseForm(); err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return tooLargeBody
		}
		return unreadableBody
	}
	return nil
}

// removeMultipart deletes the temporary files of any multipart form
// parsed into r after all (readBody refuses them; this is the backstop).
func removeMultipart(r *http.Request) {
	if f := r.MultipartForm; f != nil {
		_ = f.RemoveAll()
	}
}
