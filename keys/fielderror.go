package keys

import "fmt"

// FieldError is a request problem in one field of a key request: Field is
// the request's field name as the JSON API spells it ("handle", "alias",
// "scopes", "environment", "tier", "expires_in", "grace_seconds") and
// Message says what is wrong. It matches ErrInvalid, so errors.Is keeps
// working; callers that show the problem beside a form field use
// errors.As instead of reading the error's text.
type FieldError struct {
	Field   string
	Message string
}

// Error reads "keys: invalid request: <Message>", as the API has always
// reported it.
func (e *FieldError) Error() string { return ErrInvalid.Error() + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// invalid returns a *FieldError for field with a formatted message.
func invalid(field, format string, a ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
}
