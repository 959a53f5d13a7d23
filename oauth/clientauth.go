package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
)

// Client authentication (RFC 6749 §2.3) has one home: clientAuthStrategy,
// installed as fosite's ClientAuthenticationStrategy. The token,
// revocation and PAR endpoints reach it through fosite's request parsers,
// the introspection endpoint through Provider.authenticateClient, so every
// endpoint accepts exactly the methods the client registered: a
// confidential client registered without a method (a plain fosite.Client,
// newClient) both client_secret_basic and client_secret_post, one
// registered with a method only that one, a public client none.
//
// The secret a client presents is compared, in constant time
// (secretHasher.Compare), with the HMAC digest of its current secret and,
// only while a rotation's grace lasts, with that of its previous one
// (storage.Client.RotateSecret): newClient hands the previous digest to
// fosite as GetRotatedHashes exactly when PreviousSecretActive holds at
// Config.Now, and fosite reads rotated hashes nowhere but in this client
// authentication. Grace-period secrets thus work at the token,
// introspection, revocation and PAR endpoints alike, and nowhere else.

// Client authentication methods advertised in discovery (RFC 8414 §2
// token_endpoint_auth_methods_supported and its revocation and
// introspection counterparts). none is for public clients, which use the
// token endpoint and may revoke their own tokens (RFC 7009 §5); they may
// not introspect (Introspect refuses them), so the introspection endpoint
// lists only the secret-based methods.
var (
	clientAuthMethods        = []string{AuthMethodBasic, AuthMethodPost, AuthMethodPrivateKeyJWT, AuthMethodSecretJWT, AuthMethodNone}
	introspectionAuthMethods = []string{AuthMethodBasic, AuthMethodPost, AuthMethodPrivateKeyJWT, AuthMethodSecretJWT}
	// assertionAlgs is token_endpoint_auth_signing_alg_values_supported.
	assertionAlgs = append(append([]string{}, PrivateKeyJWTAlgs...), ClientSecretJWTAlgs...)
)

// AuthMethods lists the token endpoint authentication methods (RFC 7591
// §2) that c may use — at the token, revocation, introspection and PAR
// endpoints alike — in the order a client should prefer them. It states
// for people and registration responses what newClient enforces: none for
// a public client, the named method for a client registered with one,
// client_secret_basic and client_secret_post for a confidential client
// registered without one.
func AuthMethods(c *storage.Client) []string {
	switch {
	case c.Public:
		return []string{AuthMethodNone}
	case c.TokenEndpointAuthMethod != "":
		return []string{c.TokenEndpointAuthMethod}
	}
	return []string{AuthMethodBasic, AuthMethodPost}
}

// clientAuthStrategy is fosite's default client authentication (HTTP Basic
// or the form's client_id and client_secret, checked against the client's
// registered method; a private_key_jwt assertion against the client's
// keys) with a request that names no client answered as invalid_client
// (clientAuthMissingToInvalidClient). Client assertions (RFC 7523) first
// pass checkAssertion, which also answers client_secret_jwt, and every
// refusal of one is invalid_client (assertionFailure).
func clientAuthStrategy(p *Provider) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		if err := oneClientNamed(r, form); err != nil {
			return nil, err
		}
		assertion := form.Has("client_assertion_type") || form.Has("client_assertion")
		if assertion {
			if form.Get("client_assertion_type") != ClientAssertionType {
				// An unsupported parameter value (RFC 6749 §5.2), as fosite answers.
				return nil, fosite.ErrInvalidRequest.WithHint("Unknown or missing client_assertion_type.")
			}
			if _, _, ok := r.BasicAuth(); ok || form.Has("client_secret") {
				// RFC 6749 §2.3: one authentication method per request.
				return nil, fosite.ErrInvalidClient.WithHint("A client assertion cannot be combined with a client secret.")
			}
			var c fosite.Client
			var done bool
			var err error
			ctx, c, done, err = p.checkAssertion(ctx, form)
			if done {
				return c, err
			}
		}
		c, err := p.f.DefaultClientAuthenticationStrategy(ctx, r, form)
		if err != nil {
			if assertion {
				return nil, assertionFailure(err)
			}
			return nil, clientAuthMissingToInvalidClient(err)
		}
		return c, nil
	}
}

// oneClientNamed refuses a request whose HTTP Basic credentials and
// client_id parameter name two different clients. fosite authenticates
// the Basic one and ignores the parameter for authentication, but its PAR
// handler builds the pushed authorization request for the client the
// parameter names: a confidential client could push requests — with a
// code_challenge of its choosing — in another client's name (RFC 9126
// §2.1: the pushed request is the authenticated client's). RFC 6749 §2.3
// allows one client and one authentication method per request; the
// answer is invalid_client (§5.2), which fosite's PAR handler would make
// of any other error anyway. The same id in both places stays accepted.
func oneClientNamed(r *http.Request, form url.Values) error {
	user, _, ok := r.BasicAuth()
	named := form.Get("client_id")
	if !ok || named == "" {
		return nil
	}
	if id, err := url.QueryUnescape(user); err == nil && id == named {
		return nil
	}
	return fosite.ErrInvalidClient.WithHint("The client_id parameter names another client than the HTTP Basic credentials.")
}

// authenticateClient authenticates the client of a protocol POST whose
// form is parsed (r.PostForm), as the token endpoint does.
func (p *Provider) authenticateClient(r *http.Request) (fosite.Client, error) {
	return p.f.AuthenticateClient(r.Context(), r, r.PostForm)
}

// fositeNoClientHint is the hint fosite v0.49.0 gives when a request names
// no client at all (client_authentication.go).
const fositeNoClientHint = "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body."

// clientAuthMissingToInvalidClient maps fosite's invalid_request for a
// request without (readable) client authentication onto invalid_client
// (401), which RFC 6749 §5.2 prescribes for "no client authentication
// included".
func clientAuthMissingToInvalidClient(err error) error {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidRequest.ErrorField && rfc.HintField == fositeNoClientHint {
		return fosite.ErrInvalidClient.WithHint("Client authentication is missing or malformed.")
	}
	return err
}

// basicRealm is the realm of the Basic challenge at the endpoints that
// authenticate clients.
const basicRealm = "latchkey"

// challengeBasic adds `WWW-Authenticate: Basic realm="latchkey"` when err
// answers invalid_client to a client that tried HTTP Basic: RFC 6749 §5.2
// says the server "MUST respond with an HTTP 401 (Unauthorized) status
// code and include the WWW-Authenticate response header field matching the
// authentication scheme used by the client". Call it before writing err.
func challengeBasic(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil || !triedBasic(r) {
		return
	}
	if fosite.ErrorToRFC6749Error(err).ErrorField != fosite.ErrInvalidClient.ErrorField {
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+basicRealm+`"`)
}

// triedBasic reports whether r carries an Authorization header of the
// Basic scheme (RFC 7617 §2; the scheme is case-insensitive).
func triedBasic(r *http.Request) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return strings.EqualFold(scheme, "Basic")
}
