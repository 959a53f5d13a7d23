package orgs

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Config configures the service.
type Config struct {
	// Hasher makes the digests of invitation tokens (the server pepper).
	Hasher *secret.Hasher
	// CacheTTL bounds how long rights are reused without an invalidation
	// (the key verification cache's TTL, default 1s).
	CacheTTL time.Duration
	// InvitationTTL is how long an invitation link works (default 7 days).
	InvitationTTL time.Duration
	// Tiers are the rate-limit tiers an organization's plan may name.
	Tiers  []string
	Logger *slog.Logger
	Now    func() time.Time
}

// Service runs the organization operations for the JSON API and the pages,
// and answers rights for credentials. Every operation takes the acting
// person (Actor) and checks the permission table first; objects of an
// organization the actor is not a member of are ErrNotFound.
type Service struct {
	cfg   Config
	store Store
	cache rightsCache
}

// New returns the service.
func New(cfg Config, store Store) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = time.Second
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, store: store, cache: newRightsCache(cfg.CacheTTL, cfg.Now)}
}

// Actor is the person acting and where from (for the audit log).
type Actor struct {
	UserID string
	IP     string
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 lower-case base32 characters (128
// random bits): org_…, tnt_…, inv_….
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// translate maps storage errors onto this package's sentinels.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrLastOwner):
		return fmt.Errorf("%w (%v)", ErrLastOwner, err)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w (%v)", ErrConflict, err)
	}
	return err
}

// name checks a display name for an organization or a tenant.
func name(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", invalid(field, "%s is required", field)
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100:
		return "", invalid(field, "%s must be at most 100 characters", field)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", invalid(field, "%s must not contain control characters", field)
	}
	return s, nil
}

// Record appends an entry to the organization's audit log; a failure is
// logged, never returned (the change it records has happened).
func (s *Service) Record(ctx context.Context, orgID string, a Actor, typ, target, detail string) {
	if len(detail) > 500 {
		detail = detail[:500]
	}
	err := s.store.AddOrgEvent(ctx, &storage.OrgEvent{OrgID: orgID, ActorID: a.UserID, Type: typ, Target: target, Detail: detail, IP: a.IP, At: s.cfg.Now()})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "org audit event not recorded", "org_id", orgID, "type", typ, "err", err)
	}
}

// role returns the actor's role in orgID, or ErrNotFound when they are
// not a member (so another organization's objects look missing). The
// organization's suspension does not hide it from its members.
func (s *Service) role(ctx context.Context, orgID, userID string) (Role, error) {
	if _, err := s.org(ctx, orgID); err != nil {
		return "", err
	}
	e, err := s.member(ctx, orgID, userID)
	if err != nil {
		return "", err
	}
	if !e.found {
		return "", fmt.Errorf("%q in %q: %w", userID, orgID, ErrNotFound)
	}
	return e.role, nil
}

// Authorize returns the actor's role in orgID after checking they may do
// action: ErrNotFound for non-members, a *RoleError when the role is too
// low.
func (s *Service) Authorize(ctx context.Context, a Actor, orgID string, action Action) (Role, error) {
	r, err := s.role(ctx, orgID, a.UserID)
	if err != nil {
		return "", err
	}
	return r, Check(r, action)
}

// View is an organization as one member sees it.
type View struct {
	storage.Organization
	Role Role
}

// Create makes a new organization with the actor as its owner.
func (s *Service) Create(ctx context.Context, a Actor, orgName string) (*storage.Organization, error) {
	n, err := name("name", orgName)
	if err != nil {
		return nil, err
	}
	o := &storage.Organization{ID: NewID("org"), Name: n}
	if err := s.store.CreateOrg(ctx, o, a.UserID); err != nil {
		return nil, translate(err)
	}
	s.Record(ctx, o.ID, a, "org.created", o.ID, n)
	return o, nil
}

// List returns the organizations the actor belongs to.
func (s *Service) List(ctx context.Context, a Actor) ([]View, error) {
	ms, err := s.store.ListUserOrgs(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]View, len(ms))
	for i, m := range ms {
		out[i] = View{Organization: m.Organization, Role: Role(m.Role)}
	}
	return out, nil
}

// Get returns one organization of the actor's.
func (s *Service) Get(ctx context.Context, a Actor, orgID string) (*View, error) {
	r, err := s.Authorize(ctx, a, orgID, ViewOrg)
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrg(ctx, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return &View{Organization: *o, Role: r}, nil
}

// Rename renames the organization.
func (s *Service) Rename(ctx context.Context, a Actor, orgID, newName string) (*storage.Organization, error) {
	if _, err := s.Authorize(ctx, a, orgID, RenameOrg); err != nil {
		return nil, err
	}
	n, err := name("name", newName)
	if err != nil {
		return nil, err
	}
	var out storage.Organization
	if err := s.store.UpdateOrg(ctx, orgID, func(o *storage.Organization) error { o.Name = n; out = *o; return nil }); err != nil {
		return nil, translate(err)
	}
	s.Record(ctx, orgID, a, "org.renamed", orgID, n)
	return &out, nil
}

// Delete deletes the organization (owners only); ErrConflict while it
// still owns apps. It returns the keys it revoked.
func (s *Service) Delete(ctx context.Context, a Actor, orgID string) ([]storage.APIKey, error) {
	if _, err := s.Authorize(ctx, a, orgID, DeleteOrg); err != nil {
		return nil, err
	}
	s.Record(ctx, orgID, a, "org.deleted", orgID, "")
	ks, err := s.store.DeleteOrg(ctx, orgID)
	return ks, translate(err)
}

// Members lists the organization's members.
func (s *Service) Members(ctx context.Context, a Actor, orgID string) ([]storage.Member, error) {
	if _, err := s.Authorize(ctx, a, orgID, ListMembers); err != nil {
		return nil, err
	}
	ms, err := s.store.ListMembers(ctx, orgID)
	return ms, translate(err)
}

// target returns the role of userID in orgID, ErrNotFound if not a member.
func (s *Service) target(ctx context.Context, orgID, userID string) (Role, error) {
	m, err := s.store.GetMembership(ctx, orgID, userID)
	if err != nil {
		return "", translate(err)
	}
	return Role(m.Role), nil
}

// SetRole changes a member's role (the owner rules of CheckRoleChange).
func (s *Service) SetRole(ctx context.Context, a Actor, orgID, userID string, to Role) error {
	actor, err := s.role(ctx, orgID, a.UserID)
	if err != nil {
		return err
	}
	if err := Check(actor, ChangeRole); err != nil {
		return err
	}
	from, err := s.target(ctx, orgID, userID)
	if err != nil {
		return err
	}
	if err := CheckRoleChange(actor, from, to); err != nil {
		return err
	}
	if err := translate(s.store.SetMemberRole(ctx, orgID, userID, string(to))); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "member.role_changed", userID, fmt.Sprintf("%s → %s", from, to))
	return nil
}

// Remove removes a member (admins; owners only by owners). Their personal
// keys bound to the organization stop at once; workspace keys they made
// stay with their tenants.
func (s *Service) Remove(ctx context.Context, a Actor, orgID, userID string) error {
	if userID == a.UserID {
		return s.Leave(ctx, a, orgID)
	}
	actor, err := s.role(ctx, orgID, a.UserID)
	if err != nil {
		return err
	}
	if err := Check(actor, RemoveMember); err != nil {
		return err
	}
	target, err := s.target(ctx, orgID, userID)
	if err != nil {
		return err
	}
	if err := CheckRemove(actor, target); err != nil {
		return err
	}
	if err := translate(s.store.RemoveMember(ctx, orgID, userID)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "member.removed", userID, string(target))
	return nil
}

// Leave takes the actor out of the organization (ErrLastOwner for its
// last owner).
func (s *Service) Leave(ctx context.Context, a Actor, orgID string) error {
	if _, err := s.role(ctx, orgID, a.UserID); err != nil {
		return err
	}
	if err := translate(s.store.RemoveMember(ctx, orgID, a.UserID)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "member.left", a.UserID, "")
	return nil
}

// Transfer makes userID an owner and the actor (an owner) an admin.
func (s *Service) Transfer(ctx context.Context, a Actor, orgID, userID string) error {
	if _, err := s.Authorize(ctx, a, orgID, TransferOwnership); err != nil {
		return err
	}
	if userID == a.UserID {
		return invalid("user_id", "choose another member to transfer ownership to")
	}
	if err := translate(s.store.TransferOwnership(ctx, orgID, a.UserID, userID)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "ownership.transferred", userID, "")
	return nil
}

// Tenants lists the tenants the actor reaches in the organization, with
// their access (every tenant for admins and viewers).
func (s *Service) Tenants(ctx context.Context, a Actor, orgID string) ([]TenantRef, error) {
	if _, err := s.Authorize(ctx, a, orgID, ListTenants); err != nil {
		return nil, err
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	e, err := s.member(ctx, orgID, a.UserID)
	if err != nil {
		return nil, err
	}
	return reach(o, e), nil
}

// CreateTenant adds a tenant.
func (s *Service) CreateTenant(ctx context.Context, a Actor, orgID, tenantName string) (*storage.Tenant, error) {
	if _, err := s.Authorize(ctx, a, orgID, CreateTenant); err != nil {
		return nil, err
	}
	n, err := name("name", tenantName)
	if err != nil {
		return nil, err
	}
	t := &storage.Tenant{ID: NewID("tnt"), OrgID: orgID, Name: n}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return nil, translate(err)
	}
	s.Record(ctx, orgID, a, "tenant.created", t.ID, n)
	return t, nil
}

// RenameTenant renames a tenant.
func (s *Service) RenameTenant(ctx context.Context, a Actor, orgID, tenantID, newName string) error {
	if _, err := s.Authorize(ctx, a, orgID, RenameTenant); err != nil {
		return err
	}
	n, err := name("name", newName)
	if err != nil {
		return err
	}
	if err := translate(s.store.RenameTenant(ctx, orgID, tenantID, n)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "tenant.renamed", tenantID, n)
	return nil
}

// DeleteTenant deletes a tenant with its grants and workspace keys.
func (s *Service) DeleteTenant(ctx context.Context, a Actor, orgID, tenantID string) ([]storage.APIKey, error) {
	if _, err := s.Authorize(ctx, a, orgID, DeleteTenant); err != nil {
		return nil, err
	}
	ks, err := s.store.DeleteTenant(ctx, orgID, tenantID)
	if err != nil {
		return nil, translate(err)
	}
	s.Record(ctx, orgID, a, "tenant.deleted", tenantID, fmt.Sprintf("%d workspace keys revoked", len(ks)))
	return ks, nil
}

// Grant gives a member access to a tenant (or changes it).
func (s *Service) Grant(ctx context.Context, a Actor, orgID, tenantID, userID string, access Access) error {
	if _, err := s.Authorize(ctx, a, orgID, GrantTenant); err != nil {
		return err
	}
	if access != ReadOnly && access != ReadWrite {
		return invalid("role", `tenant role must be "read-only" or "read-write"`)
	}
	if err := translate(s.store.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: orgID, TenantID: tenantID, UserID: userID, Role: string(access)})); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "tenant.granted", userID, tenantID+" "+string(access))
	return nil
}

// Ungrant removes a member's access to a tenant.
func (s *Service) Ungrant(ctx context.Context, a Actor, orgID, tenantID, userID string) error {
	if _, err := s.Authorize(ctx, a, orgID, GrantTenant); err != nil {
		return err
	}
	if err := translate(s.store.DeleteTenantGrant(ctx, orgID, tenantID, userID)); err != nil {
		return err
	}
	s.Record(ctx, orgID, a, "tenant.revoked", userID, tenantID)
	return nil
}

// TenantGrants lists the grants of one tenant (admins).
func (s *Service) TenantGrants(ctx context.Context, a Actor, orgID, tenantID string) ([]storage.TenantGrant, error) {
	if _, err := s.Authorize(ctx, a, orgID, GrantTenant); err != nil {
		return nil, err
	}
	if _, err := s.store.GetTenant(ctx, orgID, tenantID); err != nil {
		return nil, translate(err)
	}
	gs, err := s.store.ListGrantsOfTenant(ctx, orgID, tenantID)
	return gs, translate(err)
}

// Audit returns the organization's audit log, newest first.
func (s *Service) Audit(ctx context.Context, a Actor, orgID string, before uint64, limit int) ([]storage.OrgEvent, error) {
	if _, err := s.Authorize(ctx, a, orgID, ViewAudit); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	evs, err := s.store.ListOrgEvents(ctx, orgID, before, limit)
	return evs, translate(err)
}
