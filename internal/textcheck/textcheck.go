// Package textcheck holds Latchkey's one rule for text that arrives from
// outside (paths, query and form parameters, JSON strings, header values,
// CLI flags): it must be valid UTF-8 and hold no NUL byte.
//
// PostgreSQL refuses both in text columns (SQLSTATE 22021, 22P05) while
// SQLite stores them, so without this rule the same request is a 4xx on one
// backend and a 500 on the other. No legitimate value of Latchkey's (an
// identifier, a name, a URI, a token, a password) needs either: RFC 3629
// defines UTF-8, and RFC 8259 §8.1 requires JSON text exchanged between
// systems to be UTF-8.
package textcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every refusal of this package.
var ErrInvalid = errors.New("text holds a NUL byte or is not valid UTF-8")

// Valid reports whether s is valid UTF-8 without a NUL byte.
func Valid(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// Values checks every name and value of a query or form. The error wraps
// ErrInvalid and names the parameter (Name).
func Values(v url.Values) error {
	// Sorted, so the parameter named in an error does not depend on map order.
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !Valid(k) {
			return &Error{Where: "a parameter name"}
		}
		for _, s := range v[k] {
			if !Valid(s) {
				return &Error{Where: "parameter " + Name(k)}
			}
		}
	}
	return nil
}

// JSON checks a JSON document: the raw bytes must be valid UTF-8 (a JSON
// decoder would silently turn invalid bytes into U+FFFD), and no string —
// object keys and strings nested at any depth included — may decode to one
// holding a NUL byte ("\u0000"). A document that is not valid JSON is not
// this package's concern: JSON returns nil for the part it could not read,
// so the caller's decoder reports the syntax error.
func JSON(body []byte) error {
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return &Error{Where: "the JSON body"}
	}
	if !bytes.Contains(body, []byte(`\u0000`)) {
		// No escape that could decode to NUL (U+0000 has one spelling).
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// One frame per open object or array: in an object, strings alternate
	// between keys and values.
	type frame struct {
		object, wantKey bool
		key             string
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or a syntax error the caller's decoder reports
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
			}
			continue
		}
		s, isString := tok.(string)
		if top != nil && top.object && top.wantKey {
			if !Valid(s) {
				return &Error{Where: "a JSON field name"}
			}
			top.key, top.wantKey = s, false
			continue
		}
		if isString && !Valid(s) {
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].object {
					return &Error{Where: "JSON field " + Name(stack[i].key)}
				}
			}
			return &Error{Where: "the JSON body"}
		}
		if top != nil && top.object {
			top.wantKey = true
		}
	}
}

// Error is a refusal: Where names what held the bad text, in words fit for
// an error message ("parameter \"alias\"", "the path").
type Error struct {
	Where string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %v", e.Where, ErrInvalid)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *Error) Unwrap() error { return ErrInvalid }

// Message is the sentence Latchkey answers a refusal with.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return "Text in " + e.Where + " holds a NUL byte or is not valid UTF-8."
	}
	return "The request holds a NUL byte or text that is not valid UTF-8."
}

// Name quotes a parameter or field name for an error message, or describes
// it when quoting it would echo something unfit (bad text, a long or
// non-printable name).
func Name(s string) string {
	if !Valid(s) || len(s) > 64 {
		return "(unprintable name)"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return "(unprintable name)"
		}
	}
	return `"` + s + `"`
}
