package oauth

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// client adapts storage.Client to fosite.Client. A confidential client with
// no named method is a plain fosite.Client, so fosite accepts both
// client_secret_basic and client_secret_post for it (the seed documentation
// posts the secret in the body); a client with a named method is an
// oidcClient and gets exactly that method.
type client struct {
	id     string
	hashed []byte
	// previous is the encoded digest of the secret a rotation replaced,
	// set only while its grace lasts (clientauth.go, newClient).
	previous      []byte
	redirectURIs  []string
	grantTypes    []string
	responseTypes []string
	scopes        []string
	audience      []string
	public        bool
	requirePKCE   bool
	// jwtAccess makes the client's access tokens JWTs (RFC 9068).
	jwtAccess bool
	// dpopBound requires a DPoP proof at every token request (RFC 9449 §5.2).
	dpopBound bool
}

type oidcClient struct {
	client
	method string
	// jwks and jwksURI are the client's keys for private_key_jwt, alg
	// the algorithm of its assertions (clientjwt.go).
	jwks    *jose.JSONWebKeySet
	jwksURI string
	alg     string
}

var (
	_ fosite.Client                   = (*client)(nil)
	_ fosite.ClientWithSecretRotation = (*client)(nil)
	_ fosite.ClientWithSecretRotation = (*oidcClient)(nil)
	_ fosite.OpenIDConnectClient      = (*oidcClient)(nil)
	_ fosite.ResponseModeClient       = (*client)(nil)
	_ fosite.ResponseModeClient       = (*oidcClient)(nil)
)

// newClient adapts c as it is at now: a previous secret counts only
// while its grace lasts (storage.Client.PreviousSecretActive).
func newClient(c *storage.Client, h *secretHasher, now time.Time) fosite.Client {
	base := client{
		id:            c.ID,
		redirectURIs:  c.RedirectURIs,
		grantTypes:    c.GrantTypes,
		responseTypes: c.ResponseTypes,
		scopes:        c.Scopes,
		audience:      c.Audience,
		public:        c.Public,
		requirePKCE:   c.RequirePKCE || c.Public,
		jwtAccess:     c.JWTAccessTokens,
		dpopBound:     c.DPoPBoundAccessTokens,
	}
	if len(c.SecretDigest) > 0 {
		base.hashed = h.encode(c.SecretDigest, c.SecretVersion)
	}
	if c.PreviousSecretActive(now) {
		base.previous = h.encode(c.PreviousSecretDigest, c.PreviousSecretVersion)
	}
	switch {
	case c.Public:
		return &oidcClient{client: base, method: AuthMethodNone}
	case c.TokenEndpointAuthMethod != "":
		oc := &oidcClient{client: base, method: c.TokenEndpointAuthMethod, jwksURI: c.JWKSURI,
			alg: assertionAlg(c.TokenEndpointAuthMethod, c.TokenEndpointAuthSigningAlg)}
		if c.JWKS != "" {
			// Checked at registration; a set that no longer parses
			// authenticates nobody.
			oc.jwks, _ = ValidateJWKS([]byte(c.JWKS))
			if oc.jwks == nil {
				oc.jwks = &jose.JSONWebKeySet{}
			}
		}
		return oc
	}
	return &base
}

func (c *client) GetID() string { return c.id }

// wantsJWTAccessTokens reports whether the client was registered for
// RFC 9068 JWT access tokens (jwtAccessStrategy).
func (c *client) wantsJWTAccessTokens() bool { return c.jwtAccess }
func (c *client) GetHashedSecret() []byte    { return c.hashed }

// requiresDPoP reports whether the client was registered with
// dpop_bound_access_tokens (RFC 9449 §5.2).
func (c *client) requiresDPoP() bool { return c.dpopBound }

// GetRotatedHashes implements fosite.ClientWithSecretRotation: fosite's
// client authentication tries these after the current secret
// (clientauth.go). It holds the previous secret while its grace lasts,
// and nothing otherwise.
func (c *client) GetRotatedHashes() [][]byte {
	if len(c.previous) == 0 {
		return nil
	}
	return [][]byte{c.previous}
}
func (c *client) GetRedirectURIs() []string { return c.redirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments {
	return orDefault(c.grantTypes, "authorization_code")
}
func (c *client) GetResponseTypes() fosite.Arguments { return orDefault(c.responseTypes, "code") }
func (c *client) GetScopes() fosite.Arguments        { return c.scopes }
func (c *client) IsPublic() bool                     { return c.public }
func (c *client) GetAudience() fosite.Arguments      { return c.audience }

// responseModes are the response modes every client may request (OAuth
// 2.0 Multiple Response Type Encoding Practices §2, OAuth 2.0 Form Post
// Response Mode). Only the code flow is composed, and it may use each:
// fragment is forbidden only for response types that return tokens in
// the query (none here). Discovery's response_modes_supported lists the
// same.
var responseModes = []fosite.ResponseModeType{fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}

// GetResponseModes implements fosite.ResponseModeClient; without it fosite
// refuses every explicit response_mode.
func (c *client) GetResponseModes() []fosite.ResponseModeType { return responseModes }

// RequiresPKCE reports whether authorization requests of this client must
// carry a PKCE challenge (storage.Client.RequirePKCE; always for public
// clients).
func (c *client) RequiresPKCE() bool { return c.requirePKCE }

func (c *oidcClient) GetRequestURIs() []string                     { return nil }
func (c *oidcClient) GetJSONWebKeys() *jose.JSONWebKeySet          { return c.jwks }
func (c *oidcClient) GetJSONWebKeysURI() string                    { return c.jwksURI }
func (c *oidcClient) GetRequestObjectSigningAlgorithm() string     { return "" }
func (c *oidcClient) GetTokenEndpointAuthMethod() string           { return c.method }
func (c *oidcClient) GetTokenEndpointAuthSigningAlgorithm() string { return c.alg }

func orDefault(v []string, def string) fosite.Arguments {
	if len(v) == 0 {
		return fosite.Arguments{def}
	}
	return v
}

// clientSnapshot is the part of a client stored with each request record.
type clientSnapshot struct {
	ID       string   `json:"id"`
	Public   bool     `json:"public,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Audience []string `json:"audience,omitempty"`
	Grants   []string `json:"grants,omitempty"`
}

func snapshotOf(c fosite.Client) clientSnapshot {
	if c == nil {
		return clientSnapshot{}
	}
	return clientSnapshot{ID: c.GetID(), Public: c.IsPublic(), Scopes: c.GetScopes(), Audience: c.GetAudience(), Grants: c.GetGrantTypes()}
}

func (s clientSnapshot) client() fosite.Client {
	return &client{id: s.ID, public: s.Public, scopes: s.Scopes, audience: s.Audience, grantTypes: s.Grants}
}

// secretHasher implements fosite.Hasher with HMAC-SHA256 under the
// versioned pepper: client secrets are ≥ 256-bit machine-generated values,
// so authentication costs microseconds, not a bcrypt round. The "hash"
// fosite sees is the 4-byte pepper version followed by the digest.
type secretHasher struct{ h *secret.Hasher }

var _ fosite.Hasher = (*secretHasher)(nil)

var errBadHash = errors.New("oauth: malformed client secret digest")

func (s *secretHasher) encode(digest []byte, version int) []byte {
	out := make([]byte, 4, 4+len(digest))
	binary.BigEndian.PutUint32(out, uint32(version))
	return append(out, digest...)
}

// Hash implements fosite.Hasher.
func (s *secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	d, v := s.h.Digest(data)
	return s.encode(d, v), nil
}

// Compare implements fosite.Hasher in constant time.
func (s *secretHasher) Compare(_ context.Context, hash, data []byte) error {
	if len(hash) < 4 {
		return errBadHash
	}
	return s.h.Verify(data, hash[4:], int(binary.BigEndian.Uint32(hash[:4])))
}
