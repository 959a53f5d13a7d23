package oauth

import (
	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// newRequestID returns the ID of a new grant: fosite's Requester ID, which
// every record of the grant (code, tokens, PKCE and OpenID Connect
// sessions, and their refresh rotations) carries as storage's RequestID
// and which revocation looks them up by (RFC 7009 §2.1: revoking one token
// of a grant revokes the grant).
//
// It is a UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74
// random bits. fosite makes a random v4 UUID; a random key lands each new
// row on a different leaf page of the request-ID index, so a group commit
// of N tokens wrote N scattered index pages to the WAL, where time-ordered
// IDs append to one (BENCHMARKS.md "Issue 16, round three"). The ID is no
// secret (it is stored in the clear and never proves anything); the
// creation time it shows is the token's iat.
func newRequestID() string { return uuid.Must(uuid.NewV7()).String() }

// startsGrant reports whether the token request ar starts a grant of its
// own: every grant but the code and refresh grants, whose fosite handlers
// give the request the ID of the grant it continues (the authorization's
// or the original request's).
func startsGrant(ar fosite.AccessRequester) bool {
	g := ar.GetGrantTypes()
	return !g.ExactOne("authorization_code") && !g.ExactOne("refresh_token")
}
