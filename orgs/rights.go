package orgs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/ttlcache"
	"github.com/latchkey/latchkey/storage"
)

// ScopeOrgRead and ScopeOrgAdmin are the organization scopes. A
// credential's effective scopes drop ScopeOrgAdmin unless its person is
// an owner or admin of its organization at that request.
const (
	ScopeOrgRead  = "org:read"
	ScopeOrgAdmin = "org:admin"
)

// Key kinds.
const (
	KindPersonal  = "personal"
	KindWorkspace = "workspace"
)

// OrgRef names an organization and the credential's role in it ("" for a
// workspace key, which belongs to a tenant, not a person).
type OrgRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// TenantRef is one tenant a credential reaches, with its access there
// (SPEC §3.3a's "tenants (id and role)").
type TenantRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Access `json:"role"`
}

// Rights is what a credential may reach at one request.
type Rights struct {
	// Kind is KindPersonal or KindWorkspace for API keys, "" otherwise.
	Kind string
	// Org is nil for credentials outside organizations (the personal
	// workspace).
	Org *OrgRef
	// Tenants are the tenants reached, by name.
	Tenants []TenantRef
	// Scopes are the credential's effective scopes.
	Scopes []string
	// Tier is the organization's rate-limit tier ("" = none set).
	OrgTier string
}

// Tenant returns the access to tenant id, if reached.
func (r *Rights) Tenant(id string) (Access, bool) {
	for _, t := range r.Tenants {
		if t.ID == id {
			return t.Role, true
		}
	}
	return "", false
}

// CanAccessTenant reports whether the credential may read ("read") or
// write ("write") in tenant id.
func (r *Rights) CanAccessTenant(id, permission string) bool {
	a, ok := r.Tenant(id)
	return ok && a.Allows(permission)
}

type orgEntry struct {
	org     storage.Organization
	tenants []storage.Tenant
}

type memberEntry struct {
	found  bool
	role   Role
	grants map[string]Access
}

// Store is the storage the package needs.
type Store interface {
	storage.Orgs
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// cacheMax bounds each rights cache.
const cacheMax = 100_000

// rightsCache keeps organization records with their tenant lists, and one
// member's role and grants, for the verification hot path: a key of an
// organization costs no query while both are cached. Entries live for the
// key cache's TTL and are dropped by invalidations (TopicOrg, TopicMember)
// from this process's writes and from other instances.
type rightsCache struct {
	orgs    *ttlcache.Cache[orgEntry]
	members *ttlcache.Cache[memberEntry]
}

func newRightsCache(ttl time.Duration, now func() time.Time) rightsCache {
	return rightsCache{
		orgs:    ttlcache.New[orgEntry](ttl, cacheMax, now),
		members: ttlcache.New[memberEntry](ttl, cacheMax, now),
	}
}

// Invalidate drops a cached organization (TopicOrg) or member
// (TopicMember); other topics are ignored. Register it with the
// invalidation bus and storage's OnChange.
func (s *Service) Invalidate(inv storage.Invalidation) {
	switch inv.Topic {
	case storage.TopicOrg:
		s.cache.orgs.Invalidate(inv.ID)
	case storage.TopicMember:
		s.cache.members.Invalidate(inv.ID)
	}
}

// SetListening bypasses the caches while invalidations may be lost.
func (s *Service) SetListening(ok bool) {
	s.cache.orgs.SetBypass(!ok)
	s.cache.members.SetBypass(!ok)
}

func (s *Service) org(ctx context.Context, id string) (*orgEntry, error) {
	e, ok, ticket := s.cache.orgs.Get(id)
	if ok {
		return &e, nil
	}
	o, err := s.store.GetOrg(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("organization %q: %w", id, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	ts, err := s.store.ListTenants(ctx, id)
	if err != nil {
		return nil, err
	}
	e = orgEntry{org: *o, tenants: ts}
	s.cache.orgs.Put(id, e, ticket)
	return &e, nil
}

func (s *Service) member(ctx context.Context, orgID, userID string) (memberEntry, error) {
	key := storage.MemberKey(orgID, userID)
	e, ok, ticket := s.cache.members.Get(key)
	if ok {
		return e, nil
	}
	m, err := s.store.GetMembership(ctx, orgID, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		e = memberEntry{}
	case err != nil:
		return e, err
	default:
		gs, err := s.store.ListTenantGrants(ctx, orgID, userID)
		if err != nil {
			return e, err
		}
		e = memberEntry{found: true, role: Role(m.Role), grants: make(map[string]Access, len(gs))}
		for _, g := range gs {
			e.grants[g.TenantID] = Access(g.Role)
		}
	}
	s.cache.members.Put(key, e, ticket)
	return e, nil
}

// reach lists the tenants a member with e reaches in o: every tenant for
// admins (read-write) and viewers (read-only), the granted ones for
// members.
func reach(o *orgEntry, e memberEntry) []TenantRef {
	out := []TenantRef{}
	for _, t := range o.tenants {
		var a Access
		switch {
		case e.role.IsAdmin():
			a = ReadWrite
		case e.role == Viewer:
			a = ReadOnly
			if g, ok := e.grants[t.ID]; ok {
				a = minAccess(g, ReadOnly)
			}
		default:
			g, ok := e.grants[t.ID]
			if !ok {
				continue
			}
			a = g
		}
		out = append(out, TenantRef{ID: t.ID, Name: t.Name, Role: a})
	}
	return out
}

// MemberRights returns what userID may reach in orgID now: ErrNotFound
// when they are not a member (or the organization does not exist),
// ErrSuspended when it is suspended.
func (s *Service) MemberRights(ctx context.Context, orgID, userID string) (*Rights, error) {
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	e, err := s.member(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	if !e.found {
		return nil, fmt.Errorf("%q in %q: %w", userID, orgID, ErrNotFound)
	}
	if o.org.SuspendedAt != nil {
		return nil, fmt.Errorf("organization %q: %w", orgID, ErrSuspended)
	}
	return &Rights{
		Org:     &OrgRef{ID: o.org.ID, Name: o.org.Name, Role: e.role},
		Tenants: reach(o, e),
		OrgTier: o.org.Tier,
	}, nil
}

// KeyRights returns what an API key may reach at this request (SPEC
// §3.3a): a workspace key its tenant; a personal key bound to an
// organization its owner's rights there now, narrowed to the key's
// tenants; a personal key outside organizations its owner's personal
// workspace. Tenant access never exceeds the key's capability (a key
// without a write scope is read-only) and the effective scopes drop
// org:admin unless the owner administers the organization now. Errors:
// ErrSuspended (the organization or the owner is suspended), ErrNotMember
// (the owner left or was removed), ErrNotFound (the organization or the
// workspace key's tenant is gone).
func (s *Service) KeyRights(ctx context.Context, k *storage.APIKey) (*Rights, error) {
	capability := ReadOnly
	if hasWrite(k.Scopes) {
		capability = ReadWrite
	}
	if k.TenantID != "" {
		o, err := s.org(ctx, k.OrgID)
		if err != nil {
			return nil, err
		}
		if o.org.SuspendedAt != nil {
			return nil, fmt.Errorf("organization %q: %w", k.OrgID, ErrSuspended)
		}
		i := slices.IndexFunc(o.tenants, func(t storage.Tenant) bool { return t.ID == k.TenantID })
		if i < 0 {
			return nil, fmt.Errorf("tenant %q: %w", k.TenantID, ErrNotFound)
		}
		t := o.tenants[i]
		return &Rights{
			Kind:    KindWorkspace,
			Org:     &OrgRef{ID: o.org.ID, Name: o.org.Name},
			Tenants: []TenantRef{{ID: t.ID, Name: t.Name, Role: capability}},
			Scopes:  without(k.Scopes, ScopeOrgAdmin),
			OrgTier: o.org.Tier,
		}, nil
	}
	r, err := s.PersonRights(ctx, k.UserID, k.OrgID, k.Scopes)
	if err != nil {
		return nil, err
	}
	r.Kind = KindPersonal
	out := r.Tenants[:0:0]
	for _, t := range r.Tenants {
		if len(k.Tenants) > 0 && !slices.Contains(k.Tenants, t.ID) {
			continue
		}
		t.Role = minAccess(t.Role, capability)
		out = append(out, t)
	}
	r.Tenants = out
	return r, nil
}

// PersonRights returns what a credential of userID carrying scopes may
// reach: in orgID (an OAuth token bound to an organization, a personal
// organization key), or with orgID "" in the person's own workspace. It
// refuses suspended users and organizations (ErrSuspended) and people who
// are no longer members (ErrNotMember).
func (s *Service) PersonRights(ctx context.Context, userID, orgID string, scopes []string) (*Rights, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	if u.SuspendedAt != nil {
		return nil, fmt.Errorf("user %q: %w", userID, ErrSuspended)
	}
	if orgID == "" {
		ws := storage.PersonalWorkspace(u)
		return &Rights{
			Tenants: []TenantRef{{ID: ws.ID, Name: ws.Name, Role: OwnerAll}},
			Scopes:  without(scopes, ScopeOrgAdmin),
		}, nil
	}
	r, err := s.MemberRights(ctx, orgID, userID)
	if errors.Is(err, ErrNotFound) {
		if _, oerr := s.org(ctx, orgID); oerr == nil {
			return nil, fmt.Errorf("%q in %q: %w", userID, orgID, ErrNotMember)
		}
		return nil, err
	} else if err != nil {
		return nil, err
	}
	r.Scopes = slices.Clone(scopes)
	if !r.Org.Role.IsAdmin() {
		r.Scopes = without(scopes, ScopeOrgAdmin)
	}
	return r, nil
}

// OrgTier returns the organization's rate-limit tier ("" = the
// deployment default), served by the rights cache: the limiter asks it
// for organization keys and apps that set no tier of their own.
func (s *Service) OrgTier(ctx context.Context, orgID string) (string, error) {
	o, err := s.org(ctx, orgID)
	if err != nil {
		return "", err
	}
	return o.org.Tier, nil
}

// UserSuspended reports whether the user is suspended (ErrNotFound when
// the user does not exist): sign-in, sessions, keys and tokens of a
// suspended user are refused.
func (s *Service) UserSuspended(ctx context.Context, userID string) (bool, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	} else if err != nil {
		return false, err
	}
	return u.SuspendedAt != nil, nil
}

func hasWrite(scopes []string) bool {
	for _, s := range scopes {
		if strings.HasSuffix(s, ":write") {
			return true
		}
	}
	return false
}

func without(scopes []string, drop string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
