package api

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// Orgs is the organization side the API uses (package orgs): the rights
// of each credential, the permission decisions and the audit log.
type Orgs interface {
	KeyRights(ctx context.Context, k *storage.APIKey) (*orgs.Rights, error)
	PersonRights(ctx context.Context, userID, orgID string, scopes []string) (*orgs.Rights, error)
	MemberRights(ctx context.Context, orgID, userID string) (*orgs.Rights, error)
	Authorize(ctx context.Context, a orgs.Actor, orgID string, action orgs.Action) (orgs.Role, error)
	List(ctx context.Context, a orgs.Actor) ([]orgs.View, error)
	Record(ctx context.Context, orgID string, a orgs.Actor, typ, target, detail string)
	// orgManagement runs the organization routes (OrgRoutes).
	orgManagement
}

// withRights resolves what p may reach at this request (orgs.Rights, SPEC
// §3.3a) and narrows its scopes to the effective ones: an API key through
// orgs.KeyRights; an API token through the key it was exchanged from, as
// it is now (keys' verification cache); a person's OAuth token, session or
// Basic through orgs.PersonRights (the personal workspace). Every lookup
// is served by the orgs and keys caches on a hit, so the cost per request
// stays flat. A client's own token (client_credentials) has no rights
// here. For sessions and Basic the scopes stay whole: the person's role in
// each organization decides there (effectiveRole). It answers the 401 of
// a refused credential: the owner suspended or no longer a member, the
// organization suspended or gone.
func (h *Handler) withRights(ctx context.Context, p *Principal) (int, string, string) {
	if h.cfg.Orgs == nil {
		return 0, "", ""
	}
	var r *orgs.Rights
	var err error
	switch {
	case p.Kind == KindAPIKey:
		r, err = h.cfg.Orgs.KeyRights(ctx, p.Key)
		p.Narrowed = p.Key.Tenants
	case p.Kind == KindAPIToken:
		var k *storage.APIKey
		if k, err = h.cfg.Keys.Current(ctx, p.KeyID); err == nil {
			r, err = h.cfg.Orgs.KeyRights(ctx, k)
			p.Narrowed = k.Tenants
		} else if errors.Is(err, keys.ErrRevoked) || errors.Is(err, keys.ErrExpired) || errors.Is(err, keys.ErrNotFound) {
			return http.StatusUnauthorized, "invalid_api_key", "The access token is not valid, has expired or was revoked."
		}
	case p.UserID != "":
		// A person's OAuth token acts in the organization its grant is
		// bound to (OrgID); sessions and Basic in their personal account.
		r, err = h.cfg.Orgs.PersonRights(ctx, p.UserID, p.OrgID, p.Scopes)
	default:
		return 0, "", ""
	}
	switch {
	case err == nil:
	case errors.Is(err, orgs.ErrNotMember):
		if p.Kind == KindOAuthToken {
			return http.StatusUnauthorized, "invalid_api_key", "The access token's person is no longer a member of the organization it was granted for."
		}
		return http.StatusUnauthorized, "invalid_api_key", "The API key's owner is no longer a member of its organization."
	case errors.Is(err, orgs.ErrSuspended):
		if p.Kind == KindSession || p.Kind == KindPassword || p.Kind == KindOAuthToken {
			return http.StatusUnauthorized, "unauthorized", "This account is suspended."
		}
		return http.StatusUnauthorized, "invalid_api_key", "The API key's organization or owner is suspended."
	case errors.Is(err, orgs.ErrNotFound):
		return http.StatusUnauthorized, "invalid_api_key", "The credential's owner, organization or tenant no longer exists."
	default:
		return http.StatusServiceUnavailable, "unavailable", "Credentials cannot be checked right now."
	}
	p.Rights = r
	if r.Kind == orgs.KindWorkspace {
		// A workspace key acts for its tenant, not for a person.
		p.TenantID, p.UserID = p.UserID, ""
	}
	if p.Kind != KindSession && p.Kind != KindPassword {
		// What the credential was granted stays the measure of what it
		// may grant or change in keys (authority): org:admin in a key is
		// re-judged at every use of that key, so carrying it on is safe.
		if p.GrantedScopes == nil {
			p.GrantedScopes = p.Scopes
		}
		p.Scopes = slices.DeleteFunc(slices.Clone(p.Scopes), func(s string) bool { return !slices.Contains(r.Scopes, s) })
	}
	return 0, "", ""
}

// orgBound returns the organization a credential is bound to ("" for
// none: sessions, Basic, and keys and tokens outside organizations).
func (p *Principal) orgBound() string {
	if p.Rights == nil || p.Rights.Org == nil {
		return ""
	}
	return p.Rights.Org.ID
}

// ReachesOrg reports whether the credential may act in orgID at all: the
// person signed in (session, Basic) in any organization they belong to
// (their role there decides what), a credential bound to an organization
// (an organization key or token) in that one only; a key or token outside
// organizations reaches only its owner's personal workspace (SPEC §3.3a).
// Callers answer 404 when it does not, as for an unknown organization.
func (p *Principal) ReachesOrg(orgID string) bool {
	if p.Kind == KindSession || p.Kind == KindPassword {
		return p.UserID != ""
	}
	return p.UserID != "" && p.orgBound() == orgID
}

// effectiveRole is the role a credential acts with in an organization
// where its person has role: administrators act as members unless the
// credential carries org:admin (sessions and Basic carry every scope;
// the effective scopes of a key or token keep org:admin only while its
// person administers the organization).
func (p *Principal) effectiveRole(role orgs.Role) orgs.Role {
	if role.IsAdmin() && !p.Has(orgs.ScopeOrgAdmin) {
		return orgs.Member
	}
	return role
}
