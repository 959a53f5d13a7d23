package oauth

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// ErrInvalidTarget is RFC 8707 §2's invalid_target: a resource parameter
// is malformed or names a resource this server issues no tokens for, or a
// token request asks for a resource the grant does not cover. fosite
// v0.49.0 has no such error.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource is invalid, unknown, or malformed.",
	CodeField:        http.StatusBadRequest,
}

// resourceParam is the RFC 8707 request parameter.
const resourceParam = "resource"

// requestedResources checks the resource parameters of an authorization,
// pushed authorization or token request (RFC 8707 §2): each must be an
// absolute URI without a fragment and one of Config.Resources, compared
// exactly. It returns them without repeats, or ErrInvalidTarget.
func (p *Provider) requestedResources(form url.Values) ([]string, error) {
	var out []string
	for _, raw := range form[resourceParam] {
		u, err := url.Parse(raw)
		switch {
		case raw == "" || err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "":
			return nil, ErrInvalidTarget.WithHintf("The resource %q is not an absolute URI (RFC 8707 §2).", clip(raw))
		case u.Fragment != "" || strings.Contains(raw, "#"):
			return nil, ErrInvalidTarget.WithHintf("The resource %q must not contain a fragment (RFC 8707 §2).", clip(raw))
		case !slices.Contains(p.cfg.Resources, raw):
			return nil, ErrInvalidTarget.WithHintf("This server issues no tokens for the resource %q.", clip(raw))
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out, nil
}

// resourcesAsAudience checks form's resource parameters and, when they
// are good, adds them to fosite's audience parameter, so the requested
// audience of the grant is the resources (and the token's granted
// audience, which introspection answers as aud). An existing
// space-delimited audience parameter is split first: once repeated,
// fosite no longer splits it (fosite.GetAudiences).
func (p *Provider) resourcesAsAudience(form url.Values) error {
	res, err := p.requestedResources(form)
	if err != nil || len(res) == 0 {
		return err
	}
	aud := fosite.GetAudiences(form)
	for _, r := range res {
		if !slices.Contains(aud, r) {
			aud = append(aud, r)
		}
	}
	form["audience"] = aud
	return nil
}

// audienceStrategy is fosite's AudienceMatchingStrategy: an audience is
// allowed when it is one of Config.Resources (exactly), or when fosite's
// default strategy allows it for the client's own audience list.
func (p *Provider) audienceStrategy(haystack, needle []string) error {
	var rest []string
	for _, n := range needle {
		if !slices.Contains(p.cfg.Resources, n) {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return fosite.DefaultAudienceMatchingStrategy(haystack, rest)
}

// narrowAudience checks the resources a token request names against the
// audience the grant covers (RFC 8707 §2.2: "the requested resource MUST
// be one the client was granted at authorization"): every one must be in
// granted, else ErrInvalidTarget. It returns nil when the request names
// none (the access token gets the whole granted audience).
func narrowAudience(asked, granted []string) ([]string, error) {
	if len(asked) == 0 {
		return nil, nil
	}
	for _, a := range asked {
		if !slices.Contains(granted, a) {
			return nil, ErrInvalidTarget.WithHintf("The resource %q was not granted to this authorization; a token request may only narrow the resources granted.", clip(a))
		}
	}
	return asked, nil
}

// audienceFilter is the access request handed to the authorization code
// handler when the token request narrows the resources: the handler
// grants the authorization's whole audience, and only the asked ones
// reach the access token. The refresh token keeps the whole audience
// (Session.FamilyAudience, CreateRefreshTokenSession).
type audienceFilter struct {
	fosite.AccessRequester
	allow []string
}

// GrantAudience implements fosite.Requester.
func (a audienceFilter) GrantAudience(aud string) {
	if slices.Contains(a.allow, aud) {
		a.AccessRequester.GrantAudience(aud)
	}
}

// forOwnAPI reports whether an access token granted ar may be used at
// Latchkey's own endpoints (its API and userinfo): a token whose audience
// names only other resources (RFC 8707 §2) is for them alone, so one such
// resource server cannot replay what it was sent at Latchkey. A token
// without audience is for Latchkey's API (accessTokenAudience).
func (p *Provider) forOwnAPI(ar fosite.Requester) bool {
	aud := ar.GetGrantedAudience()
	return len(aud) == 0 || slices.Contains(aud, p.OwnResource())
}

// clip bounds a client-supplied value echoed in an error description.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// ProtectedResourceMetadata is the OAuth 2.0 Protected Resource Metadata
// document (RFC 9728 §2) of Latchkey's own API.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
}

// OwnResource is the resource identifier of Latchkey's own API (RFC 8707
// §2, RFC 9728 §1.2): the issuer URL, whose metadata is at
// /.well-known/oauth-protected-resource (RFC 9728 §3.1).
func (p *Provider) OwnResource() string { return p.cfg.Issuer }

// ResourceMetadataURL is where ServeProtectedResource is mounted: the
// value of resource_metadata in the API's WWW-Authenticate challenges
// (RFC 9728 §5.1).
func (p *Provider) ResourceMetadataURL() string {
	return wellKnownURL(p.cfg.Issuer, "oauth-protected-resource")
}

// wellKnownURL inserts /.well-known/<name> between the host and the path
// of id (RFC 9728 §3.1, RFC 8414 §3.1).
func wellKnownURL(id, name string) string {
	u, err := url.Parse(id)
	if err != nil {
		return id + "/.well-known/" + name
	}
	path := strings.TrimSuffix(u.Path, "/")
	u.Path = "/.well-known/" + name + path
	u.RawPath = ""
	return u.String()
}

// ProtectedResource returns the metadata document of Latchkey's own API:
// its resource identifier, this server as its only authorization server,
// the API's scopes (those named resource:action), the Authorization
// header as the only way to present a token (RFC 6750 §2.1; credentials
// in the query are refused) and its documentation.
func (p *Provider) ProtectedResource() ProtectedResourceMetadata {
	var scopes []string
	for _, s := range p.cfg.Scopes {
		if strings.Contains(s, ":") {
			scopes = append(scopes, s)
		}
	}
	doc := p.cfg.ResourceDocumentation
	if doc == "" {
		doc = p.cfg.ServiceDocumentation
	}
	return ProtectedResourceMetadata{
		Resource:               p.OwnResource(),
		AuthorizationServers:   []string{p.cfg.Issuer},
		ScopesSupported:        scopes,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Latchkey API",
		ResourceDocumentation:  doc,
	}
}

// ServeProtectedResource serves GET /.well-known/oauth-protected-resource
// (RFC 9728 §3).
func (p *Provider) ServeProtectedResource(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONCacheable(w, p.ProtectedResource())
}
