package oauth

import (
	"context"
	"net/http"

	"github.com/go-jose/go-jose/v3"
)

// Discovery is the authorization server metadata document (RFC 8414 §2,
// OpenID Connect Discovery 1.0 §3). Both well-known URLs serve it.
type Discovery struct {
	Issuer                             string `json:"issuer"`
	AuthorizationEndpoint              string `json:"authorization_endpoint"`
	TokenEndpoint                      string `json:"token_endpoint"`
	JWKSURI                            string `json:"jwks_uri"`
	UserinfoEndpoint                   string `json:"userinfo_endpoint"`
	RevocationEndpoint                 string `json:"revocation_endpoint"`
	IntrospectionEndpoint              string `json:"introspection_endpoint"`
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	DeviceAuthorizationEndpoint        string `json:"device_authorization_endpoint"`
	// RegistrationEndpoint (RFC 8414 §2) is listed only while dynamic
	// client registration is on (Config.RegistrationEndpoint).
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	// TokenEndpointAuthSigningAlgValuesSupported lists the algorithms of
	// private_key_jwt and client_secret_jwt assertions (RFC 8414 §2).
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	// ACRValuesSupported lists the acr values of ID tokens (authContext).
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	// ServiceDocumentation (RFC 8414 §2) is the page documenting the
	// server for developers: the rendered OpenAPI reference.
	ServiceDocumentation string `json:"service_documentation,omitempty"`
	// OpenID Connect RP-Initiated Logout 1.0 §2.1 and Back-Channel
	// Logout 1.0 §2.1; front-channel logout is not offered.
	EndSessionEndpoint                string `json:"end_session_endpoint"`
	BackchannelLogoutSupported        bool   `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool   `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported       bool   `json:"frontchannel_logout_supported"`
	// DPoPSigningAlgValuesSupported lists the algorithms of DPoP proofs
	// (RFC 9449 §5.1).
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// Discovery returns the metadata document for the configured issuer.
// request_uri_parameter_supported is false: only request_uri values of our
// own PAR endpoint (RFC 9126 §4) are accepted, not OIDC Core §6.2 request
// objects at a client's URL, which is what OIDC Discovery §3 means by it.
func (p *Provider) Discovery() Discovery {
	iss := p.cfg.Issuer
	reg := ""
	if p.cfg.RegistrationEndpoint {
		reg = iss + "/oauth/register"
	}
	return Discovery{
		RegistrationEndpoint:                       reg,
		Issuer:                                     iss,
		AuthorizationEndpoint:                      iss + "/oauth/authorize",
		TokenEndpoint:                              iss + "/oauth/token",
		JWKSURI:                                    iss + "/.well-known/jwks.json",
		UserinfoEndpoint:                           iss + "/oauth/userinfo",
		RevocationEndpoint:                         iss + "/oauth/revoke",
		IntrospectionEndpoint:                      iss + "/oauth/introspect",
		PushedAuthorizationRequestEndpoint:         iss + "/oauth/par",
		DeviceAuthorizationEndpoint:                iss + "/oauth/device_authorization",
		ScopesSupported:                            p.cfg.Scopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query", "fragment", "form_post"},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeDeviceCode, GrantTypeTokenExchange},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           p.ring.algs(context.Background()),
		TokenEndpointAuthMethodsSupported:          clientAuthMethods,
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		RevocationEndpointAuthMethodsSupported:     clientAuthMethods,
		IntrospectionEndpointAuthMethodsSupported:  introspectionAuthMethods,
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported:                            []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "jti", "rat", "sid", "name", "preferred_username", "email", "email_verified", "acr", "amr"},
		ACRValuesSupported:                         []string{ACRSingleFactor, ACRMultiFactor},
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		RequestParameterSupported:                  false,
		RequestURIParameterSupported:               false,
		AuthorizationResponseIssParameterSupported: true,
		ServiceDocumentation:                       p.cfg.ServiceDocumentation,
		EndSessionEndpoint:                         iss + "/oauth/logout",
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		FrontchannelLogoutSupported:                false,
		DPoPSigningAlgValuesSupported:              DPoPAlgorithms(),
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
	return p.ring.jwks(context.Background())
}

// ServeJWKS serves GET /.well-known/jwks.json.
func (p *Provider) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCacheable(w, p.ring.jwks(r.Context()))
}

func writeJSONCacheable(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = jsonEncoder(w).Encode(v)
}
