package oauth

import (
	"net/http"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/clientip"
)

// Failed client authentications are throttled per client IP at the
// endpoints where a client authenticates itself — token (RFC 6749
// §3.2.1), revocation (RFC 7009 §2.1), pushed authorization (RFC 9126
// §2.1) and device authorization (RFC 8628 §3.1) — so that client secrets
// and assertions cannot be guessed at request rate (RFC 6819 §4.3.2 and
// §5.1.4.2.3; the SPEC's "separate limits protect /login and the token
// endpoint against guessing"). One counter (Config.ClientAuthFailures)
// serves the four: a guesser gains nothing by switching endpoints. A
// blocked IP gets 429 with Retry-After before any work is done; clients
// at other addresses are not affected. Introspection keeps its own counter
// (Config.IntrospectFailures), which also counts inactive answers.

// clientAuthBlocked answers 429 when r's client IP is blocked, and
// reports whether it did.
func (p *Provider) clientAuthBlocked(w http.ResponseWriter, r *http.Request) bool {
	f := p.cfg.ClientAuthFailures
	if f == nil {
		return false
	}
	wait := f.Blocked(clientAuthKey(r))
	if wait <= 0 {
		return false
	}
	writeTooManyRequests(w, wait, "Too many failed client authentications. Try again in %d seconds.")
	return true
}

// clientAuthFailed is called with the error an endpoint is about to
// answer: an invalid_client (RFC 6749 §5.2) adds the Basic challenge when
// the client tried Basic, and counts against r's client IP.
func (p *Provider) clientAuthFailed(w http.ResponseWriter, r *http.Request, err error) {
	challengeBasic(w, r, err)
	if f := p.cfg.ClientAuthFailures; f != nil && err != nil &&
		fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidClient.ErrorField {
		f.Fail(clientAuthKey(r))
	}
}

func clientAuthKey(r *http.Request) string { return "ip:" + clientip.Bucket(r) }
