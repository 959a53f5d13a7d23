package oauth

import (
	"context"
	"fmt"
	"slices"

	"github.com/ory/fosite"
)

// TokenOwner is who a person's access or refresh token acts for, asked
// about through Config.TokenRights.
type TokenOwner struct {
	// UserID is the token's subject.
	UserID string
	// OrgID is the organization the person bound the grant to on the
	// consent page ("" = their personal account).
	OrgID string
	// KeyID is set for a token exchanged from an API key: its rights are
	// the key's.
	KeyID string
	// Scopes are the scopes the token was granted (after the key's bound).
	Scopes []string
}

// OrgClaim names the organization a token acts in and the person's role
// there now (the userinfo "org" claim).
type OrgClaim struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Rights is what a token's owner reaches now (SPEC §3.3a), as
// Config.TokenRights answers it.
type Rights struct {
	// Scopes are the effective scopes now: the token's granted scopes are
	// narrowed to them (org:admin leaves a person who no longer
	// administers the organization).
	Scopes []string
	// Org is the organization the token acts in; nil outside one.
	Org *OrgClaim
	// Claims are the members introspection adds (RFC 7662 §2.2 allows
	// extensions): org_id, org_role, tenants and, for keys' tokens,
	// key_kind.
	Claims map[string]any
}

// sessionOf returns the request's Latchkey session (nil for another type).
func sessionOf(ar fosite.Requester) *Session {
	s, _ := ar.GetSession().(*Session)
	return s
}

// currentRights asks Config.TokenRights what the person or key behind a
// token reaches now and narrows the token's granted scopes to the
// effective ones. It returns nil for tokens that act for no person (a
// client_credentials token) or when no hook is set, and an error wrapping
// ErrInvalidToken when the token may not be used any more: its person is
// suspended or no longer a member of the organization it is bound to, or
// that organization is suspended.
func (p *Provider) currentRights(ctx context.Context, ar fosite.Requester) (*Rights, error) {
	sess := sessionOf(ar)
	if p.cfg.TokenRights == nil || sess == nil {
		return nil, nil
	}
	sub := sess.GetSubject()
	if sess.KeyID == "" && (sub == "" || sub == ar.GetClient().GetID()) {
		return nil, nil // a client acting for itself
	}
	r, err := p.cfg.TokenRights(ctx, TokenOwner{UserID: sub, OrgID: sess.OrgID, KeyID: sess.KeyID, Scopes: ar.GetGrantedScopes()})
	if err != nil {
		return nil, err
	}
	var scopes fosite.Arguments
	for _, s := range ar.GetGrantedScopes() {
		if slices.Contains(r.Scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if err := setGranted(ar, scopes); err != nil {
		return nil, err
	}
	return r, nil
}

// setGranted replaces the granted scopes of a request read back from
// storage (for this use only: nothing is written).
func setGranted(ar fosite.Requester, scopes fosite.Arguments) error {
	switch r := ar.(type) {
	case *fosite.AccessRequest:
		r.GrantedScope = scopes
	case *fosite.Request:
		r.GrantedScope = scopes
	default:
		return fmt.Errorf("oauth: cannot narrow a request of type %T", ar)
	}
	return nil
}
