package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/dpop"
)

// GinIdentityKey is the gin context key under which [Verifier.Gin] stores
// the caller's *Identity (c.Get(client.GinIdentityKey)). The identity is
// also in the request context: IdentityFrom(c.Request.Context()).
const GinIdentityKey = "latchkey.identity"

type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id; [Verifier.Middleware]
// uses it, and tests of protected handlers can too.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity the middleware verified for this
// request, if any.
func IdentityFrom(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}

// GinIdentity returns the identity [Verifier.Gin] stored in c, if any.
func GinIdentity(c *gin.Context) (*Identity, bool) {
	v, ok := c.Get(GinIdentityKey)
	if !ok {
		return nil, false
	}
	id, ok := v.(*Identity)
	return id, ok && id != nil
}

// failure is a refusal the middleware sends.
type failure struct {
	status    int
	code, msg string
	challenge string // WWW-Authenticate, if any
}

// credentialFrom extracts the credential of an Authorization header:
// "Bearer <x>" (RFC 6750 §2.1, scheme case-insensitive), "DPoP <x>" (RFC
// 9449 §7.1; isDPoP set) or, as Latchkey itself accepts, a bare API key.
// ok is false when no credential was sent; bad is true when a header was
// sent but in an unsupported form.
func (v *Verifier) credentialFrom(h string) (cred string, isDPoP, ok, bad bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", false, false, false
	}
	scheme, rest, hasSpace := strings.Cut(h, " ")
	switch {
	case hasSpace && strings.EqualFold(scheme, "Bearer"):
		rest = strings.TrimSpace(rest)
		return rest, false, rest != "", false
	case hasSpace && strings.EqualFold(scheme, dpop.TokenType):
		rest = strings.TrimSpace(rest)
		return rest, true, rest != "", rest == ""
	case strings.EqualFold(h, "Bearer"):
		return "", false, false, false
	case !hasSpace && v.IsAPIKey(h):
		return h, false, true, false
	}
	return "", false, false, true
}

// authenticate verifies the request's credential and requires every scope.
func (v *Verifier) authenticate(r *http.Request, scopes []string) (*Identity, *failure) {
	cred, isDPoP, ok, bad := v.credentialFrom(r.Header.Get("Authorization"))
	if bad {
		return nil, v.unauthorized("invalid_api_key", "Unsupported Authorization scheme; send \"Authorization: Bearer <api key or token>\".")
	}
	if !ok {
		// RFC 6750 §3.1: no error code when the request had no credential.
		return nil, &failure{status: http.StatusUnauthorized, code: "missing_api_key",
			msg:       "Send an API key or access token in the Authorization header.",
			challenge: `Bearer realm="` + v.realm + `"`}
	}
	id, err := v.Verify(r.Context(), cred)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		return nil, &failure{status: http.StatusServiceUnavailable, code: "unavailable", msg: "Credentials cannot be checked right now."}
	case errors.Is(err, ErrInvalidCredential):
		return nil, v.unauthorized("invalid_api_key", "The API key or access token is not valid, has expired or was revoked.")
	case errors.Is(err, ErrRateLimited):
		return nil, &failure{status: http.StatusTooManyRequests, code: "rate_limited", msg: "This API key has exceeded its rate limit."}
	default:
		return nil, &failure{status: http.StatusServiceUnavailable, code: "unavailable", msg: "Credentials cannot be checked right now."}
	}
	if f := v.checkDPoP(r, cred, id, isDPoP); f != nil {
		return nil, f
	}
	var missing []string
	for _, s := range scopes {
		if !id.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		// RFC 6750 §3.1: insufficient_scope, 403, with the scope needed.
		return nil, &failure{status: http.StatusForbidden, code: "insufficient_scope",
			msg:       "This operation requires the " + strings.Join(missing, ", ") + " scope.",
			challenge: `Bearer realm="` + v.realm + `", error="insufficient_scope", scope="` + strings.Join(scopes, " ") + `"`}
	}
	return id, nil
}

// checkDPoP applies RFC 9449 §7.1 to a verified credential: a DPoP-bound
// token (Identity.DPoPJKT) only with the DPoP scheme and a proof of its
// key for this request (htm, htu, ath, iat window, jti never seen by this
// Verifier); anything else only without the DPoP scheme.
func (v *Verifier) checkDPoP(r *http.Request, cred string, id *Identity, isDPoP bool) *failure {
	refuse := func(code, msg string) *failure {
		return &failure{status: http.StatusUnauthorized, code: code, msg: msg,
			challenge: `DPoP algs="` + strings.Join(dpop.Algorithms, " ") + `", error="` + code + `"`}
	}
	switch {
	case id.DPoPJKT == "" && !isDPoP:
		return nil
	case id.DPoPJKT == "":
		return refuse("invalid_token", "This credential is not DPoP-bound: send it as \"Authorization: Bearer <credential>\".")
	case !isDPoP:
		return refuse("invalid_token", "This access token is DPoP-bound: send it as \"Authorization: DPoP <token>\" with a DPoP proof.")
	}
	// The key is compared before the proof is remembered: proofs of
	// another key (a stolen token without its key) never fill the replay
	// cache (which, full, refuses every proof).
	proof, err := v.dpop.Verify(r.Header.Values(dpop.HeaderName), dpop.Request{Method: r.Method, URL: v.requestURL(r), AccessToken: cred})
	if err == nil && proof.JKT != id.DPoPJKT {
		return refuse(dpop.CodeInvalidProof, "The DPoP proof is signed with another key than the token is bound to.")
	}
	if err == nil {
		err = v.dpop.Remember(r.Context(), proof)
	}
	switch {
	case errors.Is(err, dpop.ErrReplayCacheFull):
		return &failure{status: http.StatusServiceUnavailable, code: "unavailable", msg: "Credentials cannot be checked right now."}
	case err != nil:
		return refuse(dpop.CodeInvalidProof, strings.TrimPrefix(err.Error(), dpop.ErrInvalidProof.Error()+": "))
	}
	return nil
}

// requestURL is the URL the client addressed (a proof's htu): the
// configured public URL (WithPublicURL) or one rebuilt from the request.
func (v *Verifier) requestURL(r *http.Request) string {
	if v.publicURL != "" {
		return v.publicURL + r.URL.Path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

func (v *Verifier) unauthorized(code, msg string) *failure {
	// RFC 6750 §3.1: invalid_token for an expired, revoked or malformed credential.
	return &failure{status: http.StatusUnauthorized, code: code, msg: msg,
		challenge: `Bearer realm="` + v.realm + `", error="invalid_token"`}
}

func (f *failure) write(w http.ResponseWriter) {
	h := w.Header()
	if f.challenge != "" {
		h.Set("WWW-Authenticate", f.challenge)
	}
	if f.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": f.code, "message": f.msg})
}

// Middleware returns net/http middleware that admits a request only with a
// valid credential carrying every one of requiredScopes. The credential is
// read from "Authorization: Bearer <credential>" (RFC 6750 §2.1) or the
// bare "Authorization: <api key>" form. Refusals are JSON
// {"error": ..., "message": ...}:
//
//   - 401 missing_api_key (no credential) or invalid_api_key (unknown,
//     expired or revoked), with an RFC 6750 §3 WWW-Authenticate challenge
//     (error="invalid_token" for the latter);
//   - 403 insufficient_scope with WWW-Authenticate error="insufficient_scope"
//     and the scope required (RFC 6750 §3.1);
//   - 401 invalid_token or invalid_dpop_proof, with a "DPoP algs=…"
//     challenge, for a DPoP-bound token (RFC 9449 §7.1; introspection's
//     cnf.jkt) sent as Bearer or without a valid proof of its key for this
//     request ("Authorization: DPoP <token>" plus a DPoP header: htm, htu
//     — see [WithPublicURL] — ath, iat within [WithDPoPMaxAge], a jti this
//     Verifier has not seen), and for a token that is not bound sent with
//     the DPoP scheme;
//   - 429 rate_limited for a key over its rate limit;
//   - 503 unavailable when Latchkey cannot be reached.
//
// Admitted requests carry the caller's Identity in their context; read it
// with [IdentityFrom].
func (v *Verifier) Middleware(requiredScopes ...string) func(http.Handler) http.Handler {
	scopes := append([]string(nil), requiredScopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, f := v.authenticate(r, scopes)
			if f != nil {
				f.write(w)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// Gin returns gin middleware that behaves as [Verifier.Middleware]: it
// aborts with the same statuses, bodies and RFC 6750 challenges, and on
// success stores the caller's Identity under [GinIdentityKey] (see
// [GinIdentity]) and in the request context ([IdentityFrom]).
func (v *Verifier) Gin(requiredScopes ...string) gin.HandlerFunc {
	scopes := append([]string(nil), requiredScopes...)
	return func(c *gin.Context) {
		id, f := v.authenticate(c.Request, scopes)
		if f != nil {
			if f.challenge != "" {
				c.Header("WWW-Authenticate", f.challenge)
			}
			if f.status == http.StatusServiceUnavailable {
				c.Header("Retry-After", "1")
			}
			c.Header("Cache-Control", "no-store")
			c.AbortWithStatusJSON(f.status, gin.H{"error": f.code, "message": f.msg})
			return
		}
		c.Set(GinIdentityKey, id)
		c.Request = c.Request.WithContext(WithIdentity(c.Request.Context(), id))
		c.Next()
	}
}
