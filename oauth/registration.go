package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// ErrInvalidClientMetadata means a client registration was refused
// (RFC 7591 §3.2.2 invalid_client_metadata / invalid_redirect_uri).
var ErrInvalidClientMetadata = errors.New("invalid client metadata")

// ErrInvalidRedirectURI means a redirect URI broke the redirect URI rule
// (validateRedirectURI): RFC 7591 §3.2.2 invalid_redirect_uri. Such
// errors are ErrInvalidClientMetadata too, and read like every other one
// ("invalid client metadata: redirect URI …").
var ErrInvalidRedirectURI = errors.New("invalid redirect URI")

// redirectURIError is a refused redirect URI: both sentinels match it.
type redirectURIError struct{ msg string }

func (e *redirectURIError) Error() string { return ErrInvalidClientMetadata.Error() + ": " + e.msg }
func (e *redirectURIError) Unwrap() []error {
	return []error{ErrInvalidClientMetadata, ErrInvalidRedirectURI}
}

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthMethodBasic         = "client_secret_basic"
	AuthMethodPost          = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// ClientSpec is what a person or operator asks for when registering a client.
type ClientSpec struct {
	Name    string
	OwnerID string
	// OrgID makes the client an organization's app ("" = its owner's own);
	// the caller checks that the organization exists.
	OrgID        string
	RedirectURIs []string
	GrantTypes   []string
	Scopes       []string
	Public       bool
	// AuthMethod is "" (accept client_secret_basic and client_secret_post),
	// one of those two, private_key_jwt (with JWKS or JWKSURI),
	// client_secret_jwt, or "none" for public clients.
	AuthMethod string
	// JWKS is the client's public JWK Set as JSON (private_key_jwt;
	// ValidateJWKS); JWKSURI where it publishes one instead (ValidateJWKSURI).
	JWKS    string
	JWKSURI string
	// AuthSigningAlg is the algorithm of the client's assertions
	// (PrivateKeyJWTAlgs or ClientSecretJWTAlgs); "" = RS256 or HS256.
	AuthSigningAlg string
	// JWTAccessTokens makes the client's access tokens RFC 9068 JWTs.
	JWTAccessTokens bool
	// DPoPBoundAccessTokens requires a DPoP proof at every token request
	// of the client (RFC 9449 §5.2 dpop_bound_access_tokens).
	DPoPBoundAccessTokens bool
	LogoURI               string
	ClientURI             string
	// Tier is the client's rate-limit tier ("" = the default); the caller
	// checks the name against the configured tiers.
	Tier string
	// RequirePKCE refuses authorization requests without a PKCE challenge
	// (RFC 7636). Registrars default it to true for new clients, as OAuth
	// 2.1 requires; a public client always requires PKCE.
	RequirePKCE bool
	// ResourceServer lets the client introspect every token and API key
	// (RFC 7662 §4); set only by operators (`latchkey client create
	// --resource-server`), never from the /apps pages.
	ResourceServer bool
	// Audience lists the audiences (a resource's URI or a resource
	// server's client id) the client may name when it exchanges a token
	// (RFC 8693 §2.1 audience/resource; audienceAllowed), beside
	// Latchkey's own API (the issuer). At most 20, no whitespace.
	Audience []string
	// PostLogoutRedirectURIs are where RP-Initiated Logout may return the
	// person (OpenID Connect RP-Initiated Logout 1.0 §3.1); each obeys the
	// redirect URI rule and is matched exactly.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens (OpenID Connect
	// Back-Channel Logout 1.0 §2.2): an http(s) URL, "" for none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired asks for sid in every logout token.
	BackchannelLogoutSessionRequired bool
}

// SupportedGrants lists the grant types a client may be registered for.
var SupportedGrants = []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeDeviceCode, GrantTypeTokenExchange}

// NewClientRecord validates spec and returns the record to store together
// with the plain secret (empty for public clients), which is shown once and
// never stored: the record holds only its HMAC-SHA256 digest.
func (p *Provider) NewClientRecord(spec ClientSpec) (*storage.Client, string, error) {
	spec, err := p.checkSpec(spec)
	if err != nil {
		return nil, "", err
	}
	id, err := secret.Random(128)
	if err != nil {
		return nil, "", err
	}
	rec := &storage.Client{ID: id, OwnerID: spec.OwnerID, OrgID: spec.OrgID, Public: spec.Public}
	applySpec(rec, spec)
	if spec.Public || spec.AuthMethod == AuthMethodPrivateKeyJWT {
		// A private_key_jwt client authenticates with its key alone.
		return rec, "", nil
	}
	plain, err := NewClientSecret()
	if err != nil {
		return nil, "", err
	}
	rec.SecretDigest, rec.SecretVersion = p.HashSecret(plain)
	if spec.AuthMethod == AuthMethodSecretJWT {
		if rec.SecretSealed, err = p.SealClientSecret(rec.ID, plain); err != nil {
			return nil, "", err
		}
	}
	return rec, plain, nil
}

// applySpec copies the metadata of a checked spec onto rec; identity,
// ownership, publicness and secrets are left as they are.
func applySpec(rec *storage.Client, spec ClientSpec) {
	rec.Name = spec.Name
	rec.RedirectURIs = spec.RedirectURIs
	rec.GrantTypes = spec.GrantTypes
	rec.ResponseTypes = []string{"code"}
	rec.Scopes = spec.Scopes
	rec.TokenEndpointAuthMethod = spec.AuthMethod
	rec.LogoURI = spec.LogoURI
	rec.ClientURI = spec.ClientURI
	rec.Tier = spec.Tier
	rec.RequirePKCE = spec.RequirePKCE || spec.Public
	rec.ResourceServer = spec.ResourceServer
	rec.PostLogoutRedirectURIs = spec.PostLogoutRedirectURIs
	rec.BackchannelLogoutURI = spec.BackchannelLogoutURI
	rec.BackchannelLogoutSessionRequired = spec.BackchannelLogoutSessionRequired
	rec.Audience = spec.Audience
	rec.JWTAccessTokens = spec.JWTAccessTokens
	rec.DPoPBoundAccessTokens = spec.DPoPBoundAccessTokens
	rec.JWKS = spec.JWKS
	rec.JWKSURI = spec.JWKSURI
	rec.TokenEndpointAuthSigningAlg = spec.AuthSigningAlg
}

// checkSpec validates spec and fills in its defaults: the one set of
// client metadata rules (RFC 7591 §2) of every registrar.
func (p *Provider) checkSpec(spec ClientSpec) (ClientSpec, error) {
	bad := func(format string, a ...any) (ClientSpec, error) {
		return spec, fmt.Errorf("%w: %s", ErrInvalidClientMetadata, fmt.Sprintf(format, a...))
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 200 {
		return bad("name is required (at most 200 characters)")
	}
	if len(spec.GrantTypes) == 0 {
		spec.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range spec.GrantTypes {
		if !slices.Contains(SupportedGrants, g) {
			return bad("unsupported grant type %q", g)
		}
	}
	if spec.Public && slices.Contains(spec.GrantTypes, "client_credentials") {
		return bad("a public client cannot use client_credentials")
	}
	if spec.Public && slices.Contains(spec.GrantTypes, GrantTypeTokenExchange) {
		return bad("a public client cannot use token exchange: it needs an authenticated client")
	}
	if len(spec.Audience) > 20 {
		return bad("at most 20 audiences")
	}
	for _, a := range spec.Audience {
		if a == "" || len(a) > 2000 || strings.ContainsAny(a, " \t\r\n\"\\") {
			return bad("invalid audience %q", a)
		}
	}
	if spec.Public && spec.ResourceServer {
		return bad("a public client cannot be a resource server: introspection needs a client secret")
	}
	needsRedirect := slices.Contains(spec.GrantTypes, "authorization_code")
	if needsRedirect && len(spec.RedirectURIs) == 0 {
		return bad("at least one redirect URI is required for authorization_code")
	}
	for _, u := range spec.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			return spec, &redirectURIError{fmt.Sprintf("redirect URI %q: %v", u, err)}
		}
	}
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			return spec, &redirectURIError{fmt.Sprintf("post-logout redirect URI %q: %v", u, err)}
		}
	}
	if u := spec.BackchannelLogoutURI; u != "" {
		if err := checkBackchannelURI(u); err != nil {
			return bad("back-channel logout URI %q: %v", u, err)
		}
	}
	if spec.BackchannelLogoutSessionRequired && spec.BackchannelLogoutURI == "" {
		return bad("backchannel_logout_session_required needs a back-channel logout URI")
	}
	switch spec.AuthMethod {
	case "":
		if spec.Public {
			spec.AuthMethod = AuthMethodNone
		}
	case AuthMethodBasic, AuthMethodPost:
		if spec.Public {
			return bad("a public client uses token_endpoint_auth_method none")
		}
	case AuthMethodNone:
		if !spec.Public {
			return bad("token_endpoint_auth_method none requires a public client")
		}
	case AuthMethodPrivateKeyJWT, AuthMethodSecretJWT:
		if spec.Public {
			return bad("a public client uses token_endpoint_auth_method none")
		}
	default:
		return bad("unsupported token_endpoint_auth_method %q", spec.AuthMethod)
	}
	if err := p.checkJWTAuth(&spec); err != nil {
		return spec, err
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	for _, s := range spec.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return bad("invalid scope %q", s)
		}
	}
	for _, u := range []string{spec.LogoURI, spec.ClientURI} {
		if u != "" && safeWebURL(u) == "" {
			return bad("%q is not an http(s) URL", u)
		}
	}
	return spec, nil
}

// checkJWTAuth validates the JWT client authentication metadata of spec
// (RFC 7591 §2 jwks, jwks_uri, token_endpoint_auth_signing_alg) and
// normalises its JWKS.
func (p *Provider) checkJWTAuth(spec *ClientSpec) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidClientMetadata, fmt.Sprintf(format, a...))
	}
	switch spec.AuthMethod {
	case AuthMethodPrivateKeyJWT:
		if (spec.JWKS == "") == (spec.JWKSURI == "") {
			return bad("private_key_jwt needs exactly one of jwks and jwks_uri")
		}
		if spec.JWKS != "" {
			set, err := ValidateJWKS([]byte(spec.JWKS))
			if err != nil {
				return err
			}
			norm, err := json.Marshal(set)
			if err != nil {
				return bad("jwks: %v", err)
			}
			spec.JWKS = string(norm)
		} else if err := ValidateJWKSURI(spec.JWKSURI); err != nil {
			return err
		}
		if spec.AuthSigningAlg != "" && !slices.Contains(PrivateKeyJWTAlgs, spec.AuthSigningAlg) {
			return bad("token_endpoint_auth_signing_alg must be one of %v for private_key_jwt", PrivateKeyJWTAlgs)
		}
	case AuthMethodSecretJWT:
		if p.cfg.ClientSecretSealer == nil {
			return bad("client_secret_jwt is not available on this server")
		}
		if spec.JWKS != "" || spec.JWKSURI != "" {
			return bad("jwks and jwks_uri are only for private_key_jwt")
		}
		if spec.AuthSigningAlg != "" && !slices.Contains(ClientSecretJWTAlgs, spec.AuthSigningAlg) {
			return bad("token_endpoint_auth_signing_alg must be one of %v for client_secret_jwt", ClientSecretJWTAlgs)
		}
	default:
		if spec.JWKS != "" || spec.JWKSURI != "" || spec.AuthSigningAlg != "" {
			return bad("jwks, jwks_uri and token_endpoint_auth_signing_alg need private_key_jwt or client_secret_jwt")
		}
	}
	return nil
}

// SealClientSecret seals the secret of a client_secret_jwt client for
// storage (storage.Client.SecretSealed), bound to its id; nil without a
// sealer.
func (p *Provider) SealClientSecret(clientID, plain string) ([]byte, error) {
	if p.cfg.ClientSecretSealer == nil {
		return nil, errors.New("oauth: no client secret sealer")
	}
	return secret.Seal(p.cfg.ClientSecretSealer, []byte(plain), []byte(clientID))
}

// validateRedirectURI is the one redirect URI rule of every registrar
// (the /apps pages, the CLI, dynamic registration): RFC 6749 §3.1.2
// absolute, no fragment; no wildcard (redirect URIs are matched exactly,
// RFC 9700 §4.1.3) and no user information. https needs a host. Plain
// http is allowed only for the loopback hosts 127.0.0.1, [::1] and
// localhost, on any port (RFC 8252 §7.3; the port of 127.0.0.1 and [::1]
// is ignored when matching, as fosite does); private-use schemes in
// reverse domain name form (RFC 8252 §7.1) are allowed for native apps.
// javascript:, data:, file: and vbscript: are refused.
func validateRedirectURI(raw string) error {
	if len(raw) > 2000 {
		return errors.New("must be at most 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("must not contain a fragment")
	}
	if strings.Contains(raw, "*") {
		return errors.New("must not contain a wildcard: register each redirect URI exactly")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return errors.New("needs a host")
		}
	case "http":
		h := u.Hostname()
		if h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return errors.New("http is only allowed for localhost, 127.0.0.1 and [::1]; use https")
		}
	case "javascript", "data", "file", "vbscript":
		return fmt.Errorf("scheme %q is not allowed", u.Scheme)
	default:
		if !strings.Contains(u.Scheme, ".") {
			return errors.New("private-use schemes must be reverse domain names (RFC 8252 §7.1)")
		}
		if u.Opaque != "" && !strings.HasPrefix(u.Opaque, "/") {
			return errors.New("a private-use scheme URI needs a path: use the form com.example.app:/callback (RFC 8252 §7.1)")
		}
	}
	return nil
}

func safeWebURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// HashSecret returns the digest and pepper version to store for a new client secret.
func (p *Provider) HashSecret(secretValue string) ([]byte, int) {
	return p.cfg.Hasher.Digest([]byte(secretValue))
}

// NewClientSecret generates a client secret with 256 bits of entropy.
func NewClientSecret() (string, error) { return secret.Random(256) }
