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

// readBody runs before the CSRF check reads the body. It bounds the body
// to maxPageBody (413 beyond), refuses multipart bodies (415: no form of
// ours uses one, and parsing one spools its files to disk — the CSRF
// middleware parses a copy of the request, whose files net/http would
// never remove), and parses a URL-encoded form once, so the CSRF check
// and the handler read the parsed values. It answers a refused request
// itself and returns false.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil {
		return true
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
			h.refuse(w, r, http.StatusUnsupportedMediaType,
				"invalid_request", "Multipart bodies are not accepted here; send JSON or a URL-encoded form.",
				"invalid_request", "This form was sent in a way this site does not accept. Go back, reload the page and try again.")
			return false
		}
	}
	if r.ContentLength > maxPageBody {
		h.tooLarge(w, r)
		return false
	}
	if r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, maxPageBody)
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return true
	}
	if err := r.ParseForm(); err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			h.tooLarge(w, r)
			return false
		}
		h.refuse(w, r, http.StatusBadRequest,
			"invalid_request", "The request body could not be read.",
			"invalid_request", "This form could not be read. Go back, reload the page and try again.")
		return false
	}
	return true
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	h.refuse(w, r, http.StatusRequestEntityTooLarge,
		"payload_too_large", fmt.Sprintf("The request body is larger than %d bytes.", maxPageBody),
		"payload_too_large", "This form is too large.")
}

// removeMultipart deletes the temporary files of any multipart form
// parsed into r after all (readBody refuses them; this is the backstop).
func removeMultipart(r *http.Request) {
	if f := r.MultipartForm; f != nil {
		_ = f.RemoveAll()
	}
}
