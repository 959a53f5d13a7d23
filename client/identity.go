package client

import (
	"slices"
	"time"
)

// Key kinds (Identity.KeyKind).
const (
	// KeyKindPersonal marks a key owned by a person: it acts with its
	// owner's rights (in one organization when it is bound to one).
	KeyKindPersonal = "personal"
	// KeyKindWorkspace marks a key that belongs to one tenant of an
	// organization and survives changes of membership.
	KeyKindWorkspace = "workspace"
)

// Tenant roles (Tenant.Role).
const (
	// TenantReadOnly is read access to a tenant.
	TenantReadOnly = "read-only"
	// TenantReadWrite is read and write access to a tenant.
	TenantReadWrite = "read-write"
	// TenantOwner is the role of the owner's personal workspace: full
	// access.
	TenantOwner = "owner"
)

// Tenant permissions ([Identity.CanAccessTenant], Check.TenantPermission).
const (
	// PermissionRead needs any access to the tenant.
	PermissionRead = "read"
	// PermissionWrite needs TenantReadWrite or TenantOwner.
	PermissionWrite = "write"
)

// Organization is the organization a credential acts in.
type Organization struct {
	// ID is the organization id ("org_…").
	ID string `json:"id"`
	// Name is the organization's name; empty when the identity comes from
	// introspection, which names only the id.
	Name string `json:"name"`
	// Role is the person's role there at the time of the answer: "owner",
	// "admin", "member" or "viewer"; empty for workspace keys, which act
	// for no person.
	Role string `json:"role"`
}

// Tenant is a workspace a credential reaches, with its access there.
type Tenant struct {
	// ID is the tenant id ("tnt_…"), or the owner's user id for the
	// personal workspace.
	ID string `json:"id"`
	// Name is the tenant's name ("<username>'s workspace" for the
	// personal workspace).
	Name string `json:"name"`
	// Role is TenantReadOnly, TenantReadWrite or, for the personal
	// workspace, TenantOwner.
	Role string `json:"role"`
}

// Identity is who presented a credential, as Latchkey vouches for it.
type Identity struct {
	// Kind is KindAPIKey or KindAccessToken.
	Kind string `json:"kind"`
	// Subject is the user the credential acts for: the key's owner, or the
	// token's "sub" (RFC 7662 §2.2; for a client_credentials token, the
	// client's own id). For a workspace key it is the tenant id.
	Subject string `json:"subject"`
	// ClientID is the OAuth client the token was issued to (RFC 7662
	// "client_id"); empty for API keys and for tokens exchanged from keys.
	ClientID string `json:"client_id,omitempty"`
	// KeyID is the id of the API key, or of the key an access token was
	// exchanged from; empty for other tokens.
	KeyID string `json:"key_id,omitempty"`
	// Scopes are the scopes the credential carries (for organization
	// credentials, the effective scopes at the time of the answer).
	Scopes []string `json:"scopes"`
	// ExpiresAt is when the credential expires; zero if it does not.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Environment is the API key's environment ("live" or "test"); empty
	// for access tokens.
	Environment string `json:"environment,omitempty"`
	// Tier is the API key's tier ("free", "pro", "enterprise"); empty for
	// access tokens.
	Tier string `json:"tier,omitempty"`
	// KeyKind is KeyKindPersonal or KeyKindWorkspace for API keys and
	// tokens exchanged from them; empty for other tokens and when the
	// server predates organizations.
	KeyKind string `json:"key_kind,omitempty"`
	// Organization is the organization the credential is bound to; nil
	// for credentials without one and when the server predates
	// organizations.
	Organization *Organization `json:"organization,omitempty"`
	// Tenants are the tenants the credential reaches, with its effective
	// access (after the key's narrowing and capability); a personal key
	// without organization reaches its owner's personal workspace. Nil
	// when the server sent none (servers that predate organizations).
	Tenants []Tenant `json:"tenants,omitempty"`
	// DPoPJKT is, for a DPoP-bound access token (RFC 9449), the JWK
	// SHA-256 thumbprint of the key it is bound to (introspection's
	// cnf.jkt); the middleware admits such a token only as
	// "Authorization: DPoP <token>" with a valid proof of that key.
	DPoPJKT string `json:"dpop_jkt,omitempty"`
}

// HasScope reports whether the identity carries scope.
func (id *Identity) HasScope(scope string) bool {
	return id != nil && slices.Contains(id.Scopes, scope)
}

// CanAccessTenant reports whether the identity may act in the tenant
// tenantID with permission PermissionRead or PermissionWrite. Read needs
// any entry for the tenant in Tenants; write needs role TenantReadWrite or
// TenantOwner (the personal workspace's role counts as write). It answers
// only from Tenants, as Latchkey sent them: it is false for a nil
// identity, an unknown permission or role, and for every tenant when the
// server sent no tenants (servers that predate organizations), so a
// resource server that must keep working with those has to decide
// itself, for example by treating Subject as the personal workspace.
func (id *Identity) CanAccessTenant(tenantID, permission string) bool {
	if id == nil || tenantID == "" {
		return false
	}
	for _, t := range id.Tenants {
		if t.ID != tenantID {
			continue
		}
		switch {
		case permission == PermissionRead && (t.Role == TenantReadOnly || t.Role == TenantReadWrite || t.Role == TenantOwner):
			return true
		case permission == PermissionWrite && (t.Role == TenantReadWrite || t.Role == TenantOwner):
			return true
		}
	}
	return false
}

// clone returns a deep copy, so callers cannot change cached identities.
func (id *Identity) clone() *Identity {
	c := *id
	c.Scopes = slices.Clone(id.Scopes)
	c.Tenants = slices.Clone(id.Tenants)
	if id.Organization != nil {
		o := *id.Organization
		c.Organization = &o
	}
	return &c
}
