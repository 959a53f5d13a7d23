package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/latchkey/latchkey/storage"
)

// KeyGrant describes an API key being exchanged for an access token.
type KeyGrant struct {
	KeyID    string
	UserID   string
	Username string
	Scopes   []string
	// ExpiresAt is the key's own expiry (zero = none); the token never outlives it.
	ExpiresAt time.Time
}

// GrantAPIKeyExchange is the grant reported to Config.OnTokenIssued for
// tokens exchanged from an API key.
const GrantAPIKeyExchange = "api_key_exchange"

// MintKeyToken issues an opaque OAuth access token for an API key
// (POST /tokens/generate) through Exchange, the function behind the
// token-exchange grant too. The token is an ordinary access token —
// introspectable, and revocable at /oauth/revoke by presenting it
// (revokeKeyToken) — whose grant id is the key id, so revoking the key
// revokes every token exchanged from it; on every use it is bound by the
// key as it is then (Config.KeyState).
func (p *Provider) MintKeyToken(ctx context.Context, g KeyGrant) (string, time.Time, error) {
	out, err := p.Exchange(ctx, ExchangeRequest{
		Subject: Subject{KeyID: g.KeyID, UserID: g.UserID, Username: g.Username, Granted: g.Scopes, Effective: g.Scopes, ExpiresAt: g.ExpiresAt},
		Grant:   GrantAPIKeyExchange,
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return out.AccessToken, out.ExpiresAt, nil
}

// RevokeKeyTokens revokes every access token exchanged from keyID.
func (p *Provider) RevokeKeyTokens(ctx context.Context, keyID string) error {
	return p.store.RevokeAccessToken(ctx, keyID)
}

// TokenInfo is what a resource endpoint learns from a valid access token.
type TokenInfo struct {
	Subject  string
	Username string
	ClientID string
	// GrantID is the grant (request id) the token belongs to: every token
	// of one authorization and its refreshes share it; for a token
	// exchanged from an API key it is the key id.
	GrantID   string
	KeyID     string
	Scopes    []string
	ExpiresAt time.Time
	// KeyExpiresAt is, for a token exchanged from an API key, the key's
	// expiry now (Config.KeyState); zero = the key does not expire, or
	// the token is not a key's.
	KeyExpiresAt time.Time
	// GrantEndsAt is, for a token of a person's grant, the last moment the
	// grant can yield tokens (grantEnd); zero = no bound in time.
	GrantEndsAt time.Time
	// ResourceServer is set for a client_credentials token (the client
	// acting for itself) of a client flagged resource_server (`latchkey
	// client create --resource-server`), as the client is now: only such
	// a caller may verify API keys (SPEC §3.3 POST /v1/keys/verify).
	ResourceServer bool
	// OrgID is the organization the person bound the grant to on the
	// consent page ("" = their personal account).
	OrgID string
	// GrantedScopes are the token's scopes before the person's rights at
	// this request narrowed them to Scopes (Config.TokenRights drops
	// org:admin outside an administered organization): what the token may
	// put in keys, whose own use is judged again each time.
	GrantedScopes []string
	// Audience is the token's granted audience (empty = none named: good
	// for Latchkey's own API).
	Audience []string
	// DPoPJKT is the JWK SHA-256 thumbprint of the key the token is bound
	// to (RFC 9449 §6); "" = a bearer token. A bound token is good only
	// with a proof of that key (ResourceProof), never as a Bearer token.
	DPoPJKT string
}

// grantEnd is the last moment the grant behind an access token can yield
// tokens: the token's own expiry when the grant holds no refresh token
// (no offline_access), else the end of its refresh family
// (Config.RefreshFamilyLifetime after the person approved it; zero = no
// bound). Keys an app creates with the token never outlive it.
func (p *Provider) grantEnd(ar fosite.Requester, sess *Session) time.Time {
	scopes := ar.GetGrantedScopes()
	if sess != nil && len(sess.FamilyScope) > 0 {
		scopes = sess.FamilyScope
	}
	if !slices.Contains(scopes, "offline_access") && !slices.Contains(scopes, "offline") {
		return ar.GetSession().GetExpiresAt(fosite.AccessToken)
	}
	if p.cfg.RefreshFamilyLifetime <= 0 || sess == nil || sess.grantStart().IsZero() {
		return time.Time{}
	}
	return sess.grantStart().Add(p.cfg.RefreshFamilyLifetime).UTC()
}

// ErrInvalidToken means an access token is unknown, expired or revoked.
var ErrInvalidToken = errors.New("oauth: invalid access token")

// LooksLikeAccessToken reports whether s has the shape of an access token
// of this server, opaque or JWT (cheap routing; ValidateAccessToken is
// the check).
func LooksLikeAccessToken(s string) bool {
	return len(s) > 7 && s[:7] == "ory_at_" || isJWT(s)
}

// ValidateAccessToken checks an access token presented to a resource
// endpoint of Latchkey's own API (RFC 6750 §2.1) and returns what it
// grants; a token whose audience names only other resources (RFC 8707)
// is refused; a token exchanged
// from an API key grants no more than the key now (Config.KeyState), and
// a person's token no more than the person's rights now
// (Config.TokenRights): refused while they or the organization the grant
// is bound to are suspended, or once they left it.
func (p *Provider) ValidateAccessToken(ctx context.Context, token string) (*TokenInfo, error) {
	info, _, err := p.validateAccess(ctx, token)
	return info, err
}

// validateAccess is ValidateAccessToken returning the stored request too
// (narrowed to what it grants now).
func (p *Provider) validateAccess(ctx context.Context, token string) (*TokenInfo, fosite.Requester, error) {
	use, ar, err := p.f.IntrospectToken(ctx, token, fosite.AccessToken, NewSession(""))
	if err == nil && use != fosite.AccessToken {
		// fosite falls back to the other token type: a refresh token is
		// never a bearer credential (RFC 6749 §1.5).
		return nil, nil, ErrInvalidToken
	}
	if err != nil {
		var rfc *fosite.RFC6749Error
		if errors.As(err, &rfc) && rfc.CodeField >= 500 {
			return nil, nil, err
		}
		return nil, nil, ErrInvalidToken
	}
	if !p.forOwnAPI(ar) {
		// Audience-restricted to other resources (RFC 8707 §2): not a
		// credential for Latchkey's own API.
		return nil, nil, ErrInvalidToken
	}
	key, err := p.boundByKey(ctx, ar)
	if err != nil {
		return nil, nil, err
	}
	granted := slices.Clone(ar.GetGrantedScopes())
	if _, err := p.currentRights(ctx, ar); err != nil {
		return nil, nil, err
	}
	sess, _ := ar.GetSession().(*Session)
	info := &TokenInfo{
		Subject:       ar.GetSession().GetSubject(),
		ClientID:      ar.GetClient().GetID(),
		GrantID:       ar.GetID(),
		Scopes:        ar.GetGrantedScopes(),
		ExpiresAt:     ar.GetSession().GetExpiresAt(fosite.AccessToken),
		GrantedScopes: granted,
		Audience:      slices.Clone(ar.GetGrantedAudience()),
	}
	if sess != nil {
		info.Username = sess.Username
		info.KeyID = sess.KeyID
		info.OrgID = sess.OrgID
		info.DPoPJKT = sess.DPoPJKT
	}
	switch {
	case key != nil:
		info.KeyExpiresAt = key.ExpiresAt
	case info.Subject != "" && info.Subject != info.ClientID:
		info.GrantEndsAt = p.grantEnd(ar, sess)
	case info.ClientID != "" && info.KeyID == "":
		// A client_credentials token (RFC 6749 §4.4): whether its client
		// is a resource server now, read through the storage read cache
		// (one lookup per such token, none for people's or keys' tokens).
		c, err := p.store.db.GetClient(ctx, info.ClientID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil, nil, ErrInvalidToken // the client was deleted
		case err != nil:
			return nil, nil, err
		}
		info.ResourceServer = c.ResourceServer
	}
	return info, ar, nil
}
