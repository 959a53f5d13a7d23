package oauth

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
)

// Discovery is the authorization server metadata document (RFC 8414 §2,
// OpenID Connect Discovery 1.0 §3). Both well-known URLs serve it.
type Discovery struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

// Discovery returns the metadata document for the configured issuer.
func (p *Provider) Discovery() Discovery {
	iss := p.cfg.Issuer
	return Discovery{
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/oauth/authorize",
		TokenEndpoint:                              iss + "/oauth/token",
		JWKSURI:                                    iss + "/.well-known/jwks.json",
		UserinfoEndpoint:                           iss + "/oauth/userinfo",
		RevocationEndpoint:                         iss + "/oauth/revoke",
		IntrospectionEndpoint:                      iss + "/oauth/introspect",
		PushedAuthorizationRequestEndpoint:         iss + "/oauth/par",
		ScopesSupported:                            p.cfg.Scopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "fragment", "form_post"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{p.alg},
		TokenEndpointAuthMethodsSupported:          []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone},
		RevocationEndpointAuthMethodsSupported:     []string{AuthMethodBasic, AuthMethodPost, AuthMethodNone},
		IntrospectionEndpointAuthMethodsSupported:  []string{AuthMethodBasic},
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported:                            []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"},
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		RequestParameterSupported:                  false,
		RequestURIParameterSupported:               true,
		AuthorizationResponseIssParameterSupported: true,
	}
}

// ServeDiscovery serves GET /.well-known/openid-configuration and
// /.well-known/oauth-authorization-server.
func (p *Provider) ServeDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCacheable(w, p.Discovery())
}

// JWKS returns the public signing keys (RFC 7517 §5), each with kid, use and alg.
func (p *Provider) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: p.public, KeyID: p.cfg.SigningKeyID, Algorithm: p.alg, Use: "sig",
	}}}
}

// ServeJWKS serves GET /.well-known/jwks.json.
func (p *Provider) ServeJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCacheable(w, p.JWKS())
}

// Userinfo serves GET/POST /oauth/userinfo (OpenID Connect Core §5.3): the
// bearer access token must be active and carry the openid scope; profile
// and email claims follow the granted scopes. The token is accepted in the
// Authorization header only (RFC 6750 §2.1): a token in the query string
// or a form body (RFC 6750 §2.2–2.3; RFC 9700 §4.3.2 warns that URLs leak
// through logs and referrers) is refused with invalid_request.
func (p *Provider) Userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if inURL, err := p.tokenOutsideHeader(w, r); inURL || err != nil {
		switch {
		case errors.Is(err, errBodyTooLarge):
			p.writeBodyError(w, r, err)
		case err != nil:
			bearerError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		default:
			bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token in the Authorization: Bearer header, not in the URL or the body.")
		}
		return
	}
	tok := bearerToken(r)
	if tok == "" {
		bearerError(w, http.StatusUnauthorized, "invalid_request", "Send the access token in the Authorization: Bearer header.")
		return
	}
	use, ar, err := p.f.IntrospectToken(ctx, tok, fosite.AccessToken, NewSession(""))
	if err == nil && use != fosite.AccessToken {
		err = fosite.ErrInvalidTokenFormat // a refresh token is not a bearer credential
	}
	if err == nil {
		_, err = p.boundByKey(ctx, ar) // a key's token is never more than the key now
	}
	if err != nil {
		bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing, expired or revoked.")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	sub := ar.GetSession().GetSubject()
	u, err := p.users.GetUser(ctx, sub)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			bearerError(w, http.StatusUnauthorized, "invalid_token", "The token's subject no longer exists.")
			return
		}
		p.log.ErrorContext(ctx, "userinfo lookup", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	claims := map[string]any{"sub": u.ID}
	if ar.GetGrantedScopes().Has("profile") {
		claims["preferred_username"] = u.Username
		if u.Name != "" {
			claims["name"] = u.Name
		}
	}
	if ar.GetGrantedScopes().Has("email") && u.Email != "" {
		claims["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, claims)
}

// bearerToken returns the credential of an "Authorization: Bearer" header
// (the scheme is case-insensitive, RFC 9110 §11.1), or "".
func bearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tokenOutsideHeader reports whether the request carries an access_token
// parameter in its query string or in a form-encoded body (read within
// MaxBodyBytes).
func (p *Provider) tokenOutsideHeader(w http.ResponseWriter, r *http.Request) (bool, error) {
	if r.URL.Query().Has("access_token") {
		return true, nil
	}
	if r.Method != http.MethodPost {
		return false, nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return false, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return false, errBodyTooLarge
		}
		return false, err
	}
	return r.PostForm.Has("access_token"), nil
}

// bearerError answers with an RFC 6750 §3 error and WWW-Authenticate header.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSONCacheable(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = jsonEncoder(w).Encode(v)
}
