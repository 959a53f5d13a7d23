package oauth

import (
	"net/url"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/internal/textcheck"
)

// checkBodyText applies textcheck's rule to a protocol POST body that
// normalizeBody has decoded: a JSON body's raw bytes (the decoder would
// quietly turn invalid UTF-8 into U+FFFD) and every name and value of the
// resulting form. A NUL byte or invalid UTF-8 is RFC 6749 §5.2
// invalid_request — never a store lookup, which PostgreSQL would refuse
// with an error fosite reports as server_error.
func checkBodyText(mediaType string, body []byte, form url.Values) error {
	var err error
	if mediaType == "application/json" {
		err = textcheck.JSON(body)
	}
	if err == nil {
		err = textcheck.Values(form)
	}
	if err != nil {
		return fosite.ErrInvalidRequest.WithHint(textcheck.Message(err))
	}
	return nil
}
