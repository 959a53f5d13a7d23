package oauth

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/clientip"
)

// Failed client authentications are throttled per client IP at the
// endpoints where a client authenticates itself — token (RFC 6749
// §3.2.1), revocation (RFC 7009 §2.1), pushed authorization (RFC 9126
// §2.1) and device authorization (RFC 8628 §3.1) — so that client secrets
// and assertions cannot be guessed at request rate (RFC 6749 §10.10,
// credentials-guessing attacks; the SPEC's "separate limits protect /login
// and the token endpoint against guessing"). One counter (Config.ClientAuthFailures)
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
// the client tried Basic, and counts against r's client IP — unless it
// stands for a failure of the server's (serverFault), which is no guess.
func (p *Provider) clientAuthFailed(w http.ResponseWriter, r *http.Request, err error) {
	challengeBasic(w, r, err)
	if f := p.cfg.ClientAuthFailures; f != nil && err != nil &&
		fosite.ErrorToRFC6749Error(err).ErrorField == fosite.ErrInvalidClient.ErrorField && !serverFault(err) {
		f.Fail(clientAuthKey(r))
	}
}

// serverFault reports whether err wraps, at any depth, an RFC 6749 error
// of the server's (5xx): fosite answers invalid_client for every failed
// client lookup, a database that is down included (fositeStore.GetClient
// marks those server_error), and a caller that presented the right
// credentials then must not be counted as guessing, nor locked out with
// every client behind its address once the database is back.
func serverFault(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if rfc, ok := e.(*fosite.RFC6749Error); ok && rfc.CodeField >= http.StatusInternalServerError {
			return true
		}
	}
	return false
}

func clientAuthKey(r *http.Request) string { return "ip:" + clientip.Bucket(r) }
