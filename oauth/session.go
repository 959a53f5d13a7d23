package oauth

import (
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is the state fosite carries through a grant: the OpenID Connect
// session (subject, ID-token claims, expiries) plus Latchkey's own fields.
// It is serialised as JSON inside each stored request record.
type Session struct {
	openid.DefaultSession
	// ClientID is the client the grant belongs to (the subject of a
	// client_credentials token).
	ClientID string `json:"client_id,omitempty"`
	// KeyID is set on access tokens exchanged from an API key.
	KeyID string `json:"key_id,omitempty"`
	// OrgID is the organization the person bound the grant to on the
	// consent page ("" = their personal account); every token of the grant
	// (refreshes too) carries it, and acts there with the person's rights
	// as they are at each use (Config.TokenRights).
	OrgID string `json:"org_id,omitempty"`
	// GrantedAt is when the person approved the authorization; every
	// refresh token of the grant carries it, and a refresh after
	// Config.RefreshFamilyLifetime has passed is refused.
	GrantedAt time.Time `json:"granted_at,omitzero"`
	// FamilyScope is set while a refresh narrows the access token's scope
	// (RFC 6749 §6): the refresh token issued with it keeps this, the
	// scope originally granted.
	FamilyScope []string `json:"family_scope,omitempty"`
	// FamilyAudience is set while a token request narrows the access
	// token's audience to some of the resources granted (RFC 8707 §2.2):
	// the refresh token issued with it keeps this, the audience
	// originally granted.
	FamilyAudience []string `json:"family_audience,omitempty"`
	// DPoPJKT binds the grant's tokens to a DPoP key (RFC 9449): the JWK
	// SHA-256 thumbprint of the key. On an authorization code it is the
	// dpop_jkt the client asked for (§10); on access and refresh tokens
	// the key of the proof they were issued with (bindDPoP).
	DPoPJKT string `json:"dpop_jkt,omitempty"`
}

// NewSession returns an empty session for subject.
func NewSession(subject string) *Session {
	return &Session{DefaultSession: openid.DefaultSession{
		Subject: subject,
		Claims:  &jwt.IDTokenClaims{Subject: subject, RequestedAt: time.Now().UTC()},
		Headers: &jwt.Headers{},
	}}
}

// Clone implements fosite.Session keeping the concrete type (the embedded
// DefaultSession's Clone would drop Latchkey's fields).
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(*Session)
}

// GetExtraClaims implements fosite.ExtraClaimsSession: introspection
// (RFC 7662 §2.2) reports the API key a token was exchanged from.
func (s *Session) GetExtraClaims() map[string]interface{} {
	out := map[string]interface{}{}
	if s.KeyID != "" {
		out["key_id"] = s.KeyID
	}
	return out
}

var (
	_ openid.Session            = (*Session)(nil)
	_ fosite.ExtraClaimsSession = (*Session)(nil)
)

// grantStart is when the person approved the grant: GrantedAt, or for
// grants from before it was recorded the authorization request's time,
// which WriteGrant has always put in the ID token claims. Zero = unknown.
func (s *Session) grantStart() time.Time {
	if s.GrantedAt.IsZero() && s.Claims != nil {
		return s.Claims.RequestedAt
	}
	return s.GrantedAt
}
