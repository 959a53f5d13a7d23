package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrLastOwner means a change would leave an organization without an
// owner: removing, demoting or deleting its last owner, or the last owner
// leaving. It wraps ErrConflict, so callers that only know conflicts still
// answer 409.
var ErrLastOwner = fmt.Errorf("the organization's last owner: %w", ErrConflict)

// Organization is a team of people (SPEC §3.3a): members with roles,
// tenants (workspaces), organization keys and apps.
type Organization struct {
	ID   string `gorm:"primaryKey;size:64"`
	Name string `gorm:"size:100;not null"`
	// Tier is the organization's rate-limit plan, inherited by its keys and
	// apps that set none ("" = the deployment's default tier).
	Tier string `gorm:"size:32"`
	// SuspendedAt is when an instance administrator suspended the
	// organization (nil = not suspended): every key and token of it is
	// refused while it is set.
	SuspendedAt *time.Time
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

// Membership makes a user a member of an organization with a role
// (owner, admin, member, viewer: package orgs gives them meaning).
type Membership struct {
	OrgID     string    `gorm:"primaryKey;size:64"`
	UserID    string    `gorm:"primaryKey;size:64;index"`
	Role      string    `gorm:"size:16;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// Member is a membership with the person's public details, for listings.
type Member struct {
	Membership
	Username string
	Name     string
	Email    string
}

// OrgMembership is one organization a user belongs to and their role there.
type OrgMembership struct {
	Organization
	Role string
}

// Tenant is a workspace inside an organization.
type Tenant struct {
	ID        string    `gorm:"primaryKey;size:64"`
	OrgID     string    `gorm:"size:64;not null;uniqueIndex:idx_tenants_org_name,priority:1"`
	Name      string    `gorm:"size:100;not null;uniqueIndex:idx_tenants_org_name,priority:2"`
	CreatedAt time.Time `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// TenantGrant gives a member access to one tenant: Role is "read-only" or
// "read-write". Administrators reach every tenant without grants.
type TenantGrant struct {
	TenantID  string    `gorm:"primaryKey;size:64"`
	UserID    string    `gorm:"primaryKey;size:64;index:idx_tenant_grants_org_user,priority:2"`
	OrgID     string    `gorm:"size:64;not null;index:idx_tenant_grants_org_user,priority:1"`
	Role      string    `gorm:"size:16;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

// Invitation is a single-use, expiring link that makes whoever follows it
// (signed in) a member with Role. The link's token is never stored: Digest
// is HMAC-SHA256 of it under the pepper of PepperVersion.
type Invitation struct {
	ID            string    `gorm:"primaryKey;size:64"`
	OrgID         string    `gorm:"size:64;not null;index"`
	Email         string    `gorm:"size:254"`
	Role          string    `gorm:"size:16;not null"`
	Digest        []byte    `gorm:"size:32;not null;uniqueIndex"`
	PepperVersion int       `gorm:"not null"`
	InvitedBy     string    `gorm:"size:64;not null"`
	CreatedAt     time.Time `gorm:"not null"`
	ExpiresAt     time.Time `gorm:"not null"`
	AcceptedAt    *time.Time
	AcceptedBy    string `gorm:"size:64"`
}

// OrgEvent is one entry of an organization's audit log.
type OrgEvent struct {
	ID      uint64 `gorm:"primaryKey;autoIncrement"`
	OrgID   string `gorm:"size:64;not null;index:idx_org_events_org_at,priority:1"`
	ActorID string `gorm:"size:64"`
	Type    string `gorm:"size:32;not null"`
	// Target names what the event is about: a user, tenant, key or client id.
	Target string    `gorm:"size:64"`
	Detail string    `gorm:"size:500"`
	IP     string    `gorm:"size:64"`
	At     time.Time `gorm:"not null;index:idx_org_events_org_at,priority:2"`
}

// Orgs stores organizations, their members, tenants, grants, invitations
// and audit log. Every write that changes what a credential may reach
// publishes an invalidation (TopicOrg for the organization record and its
// tenant list, TopicMember for one member's role and grants), delivered to
// other instances at commit, so rights caches follow within the bus delay.
type Orgs interface {
	// CreateOrg inserts o and makes ownerID its owner, in one transaction;
	// ErrNotFound when the owner does not exist.
	CreateOrg(ctx context.Context, o *Organization, ownerID string) error
	// GetOrg returns the organization with id, or ErrNotFound.
	GetOrg(ctx context.Context, id string) (*Organization, error)
	// ListOrgs returns organizations ordered by id, after the id after
	// ("" = from the start), at most limit (instance administrators).
	ListOrgs(ctx context.Context, after string, limit int) ([]Organization, error)
	// ListUserOrgs returns the organizations userID belongs to with their
	// role, by name; none is an empty slice.
	ListUserOrgs(ctx context.Context, userID string) ([]OrgMembership, error)
	// UpdateOrg applies fn to the organization in one transaction (name,
	// tier, suspension); ErrNotFound when it does not exist.
	UpdateOrg(ctx context.Context, id string, fn func(*Organization) error) error
	// DeleteOrg removes the organization, its members, tenants, grants and
	// invitations, and revokes every API key of it (personal keys bound to
	// it and workspace keys), in one transaction. Its audit log stays.
	// ErrConflict when OAuth clients still belong to it.
	DeleteOrg(ctx context.Context, id string) ([]APIKey, error)

	// GetMembership returns userID's membership of orgID, or ErrNotFound.
	GetMembership(ctx context.Context, orgID, userID string) (*Membership, error)
	// ListMembers returns the organization's members, owners first, then
	// by username.
	ListMembers(ctx context.Context, orgID string) ([]Member, error)
	// AddMember inserts m; ErrConflict when the user is already a member,
	// ErrNotFound when the user or the organization does not exist.
	AddMember(ctx context.Context, m *Membership) error
	// SetMemberRole changes a member's role; ErrNotFound when not a member,
	// ErrLastOwner when it would demote the last owner.
	SetMemberRole(ctx context.Context, orgID, userID, role string) error
	// RemoveMember deletes the membership and the member's tenant grants;
	// ErrNotFound when not a member, ErrLastOwner for the last owner.
	RemoveMember(ctx context.Context, orgID, userID string) error
	// TransferOwnership makes to an owner and from (an owner) an admin, in
	// one transaction; ErrNotFound when either is not a member, ErrConflict
	// when from is not an owner.
	TransferOwnership(ctx context.Context, orgID, from, to string) error

	// CreateTenant inserts t; ErrConflict when the organization has a
	// tenant of that name, ErrNotFound when the organization does not exist.
	CreateTenant(ctx context.Context, t *Tenant) error
	// GetTenant returns the tenant id of orgID; ErrNotFound when there is
	// none — also when the tenant belongs to another organization.
	GetTenant(ctx context.Context, orgID, id string) (*Tenant, error)
	// ListTenants returns the organization's tenants by name.
	ListTenants(ctx context.Context, orgID string) ([]Tenant, error)
	// RenameTenant renames the tenant id of orgID; ErrNotFound, ErrConflict.
	RenameTenant(ctx context.Context, orgID, id, name string) error
	// DeleteTenant removes the tenant of orgID and its grants and revokes
	// its workspace keys, in one transaction; it returns the revoked keys.
	DeleteTenant(ctx context.Context, orgID, id string) ([]APIKey, error)
	// SetTenantGrant gives (or changes) a member's access to a tenant of
	// the same organization; ErrNotFound when the tenant is not the
	// organization's or the user is not a member.
	SetTenantGrant(ctx context.Context, g *TenantGrant) error
	// DeleteTenantGrant removes a grant; ErrNotFound when there is none.
	DeleteTenantGrant(ctx context.Context, orgID, tenantID, userID string) error
	// ListTenantGrants returns userID's grants in orgID.
	ListTenantGrants(ctx context.Context, orgID, userID string) ([]TenantGrant, error)
	// ListGrantsOfTenant returns the grants of one tenant of orgID.
	ListGrantsOfTenant(ctx context.Context, orgID, tenantID string) ([]TenantGrant, error)

	// CreateInvitation inserts inv; ErrNotFound when the organization does
	// not exist.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	// ListInvitations returns the organization's invitations not yet
	// accepted and not expired at now, newest first.
	ListInvitations(ctx context.Context, orgID string, now time.Time) ([]Invitation, error)
	// GetInvitationByDigest returns the invitation with digest (accepted
	// and expired ones included: the caller decides), or ErrNotFound.
	GetInvitationByDigest(ctx context.Context, digest []byte) (*Invitation, error)
	// DeleteInvitation removes a pending invitation of orgID; ErrNotFound.
	DeleteInvitation(ctx context.Context, orgID, id string) error
	// AcceptInvitation uses the invitation with digest for userID at now,
	// in one transaction: it marks it accepted and adds the membership.
	// ErrNotFound when unknown; the invitation together with ErrInactive
	// when it was used or has expired; ErrConflict when userID is already
	// a member (the invitation stays unused). Of concurrent calls exactly
	// one succeeds.
	AcceptInvitation(ctx context.Context, digest []byte, userID string, now time.Time) (*Invitation, error)

	// AddOrgEvent appends to the organization's audit log.
	AddOrgEvent(ctx context.Context, e *OrgEvent) error
	// ListOrgEvents returns the organization's audit log, newest first,
	// entries with an id below before (0 = from the newest), at most limit.
	ListOrgEvents(ctx context.Context, orgID string, before uint64, limit int) ([]OrgEvent, error)

	// ListOrgAPIKeys returns every API key bound to the organization
	// (personal keys made in it and workspace keys), newest first.
	ListOrgAPIKeys(ctx context.Context, orgID string) ([]APIKey, error)
	// ListOrgClients returns the OAuth clients the organization owns.
	ListOrgClients(ctx context.Context, orgID string) ([]Client, error)

	// SetUserSuspended suspends (at non-nil) or reinstates (nil) a user:
	// while suspended, every key, token and session of theirs is refused.
	// ErrNotFound when the user does not exist.
	SetUserSuspended(ctx context.Context, userID string, at *time.Time) error
}

// Invalidation topics of the organization records (see Orgs).
const (
	// TopicOrg: ID is an organization id (its record and tenant list).
	TopicOrg Topic = "org"
	// TopicMember: ID is MemberKey(orgID, userID) (one member's role and grants).
	TopicMember Topic = "member"
)

// MemberKey is the invalidation id of one member's rights in one organization.
func MemberKey(orgID, userID string) string { return orgID + "|" + userID }

func (d *DB) orgChanged(ctx context.Context, orgID string) error {
	return d.changed(ctx, Invalidation{Topic: TopicOrg, ID: orgID})
}

func (d *DB) memberChanged(ctx context.Context, orgID, userID string) error {
	return d.changed(ctx, Invalidation{Topic: TopicMember, ID: MemberKey(orgID, userID)})
}

// holdOrg checks, inside ctx's transaction, that the organization exists
// and keeps it from being deleted until the transaction ends (PostgreSQL
// row lock; SQLite's one writer serialises).
func (d *DB) holdOrg(ctx context.Context, orgID string) error {
	w := d.w(ctx)
	var ids []string
	if err := w.Model(&Organization{}).Clauses(lockForUpdate(w)...).Where("id = ?", orgID).Limit(1).Pluck("id", &ids).Error; err != nil {
		return translate(err)
	}
	if len(ids) == 0 {
		return fmt.Errorf("organization %q: %w", orgID, ErrNotFound)
	}
	return nil
}

// CreateOrg implements Orgs.
func (d *DB) CreateOrg(ctx context.Context, o *Organization, ownerID string) error {
	now := d.now().UTC()
	o.CreatedAt, o.UpdatedAt = now, now
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdUser(ctx, ownerID); err != nil {
			return err
		}
		if err := translate(d.w(ctx).Create(o).Error); err != nil {
			return err
		}
		m := &Membership{OrgID: o.ID, UserID: ownerID, Role: "owner", CreatedAt: now}
		if err := translate(d.w(ctx).Create(m).Error); err != nil {
			return err
		}
		return d.memberChanged(ctx, o.ID, ownerID)
	})
}

// GetOrg implements Orgs.
func (d *DB) GetOrg(ctx context.Context, id string) (*Organization, error) {
	var o Organization
	if err := d.r(ctx).Where("id = ?", id).Take(&o).Error; err != nil {
		return nil, translate(err)
	}
	return &o, nil
}

// ListOrgs implements Orgs.
func (d *DB) ListOrgs(ctx context.Context, after string, limit int) ([]Organization, error) {
	out := []Organization{}
	err := d.r(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// ListUserOrgs implements Orgs.
func (d *DB) ListUserOrgs(ctx context.Context, userID string) ([]OrgMembership, error) {
	var ms []Membership
	if err := d.r(ctx).Where("user_id = ?", userID).Find(&ms).Error; err != nil {
		return nil, translate(err)
	}
	out := []OrgMembership{}
	if len(ms) == 0 {
		return out, nil
	}
	roles := make(map[string]string, len(ms))
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		roles[m.OrgID] = m.Role
		ids = append(ids, m.OrgID)
	}
	var orgs []Organization
	if err := d.r(ctx).Where("id IN ?", ids).Order("name, id").Find(&orgs).Error; err != nil {
		return nil, translate(err)
	}
	for _, o := range orgs {
		out = append(out, OrgMembership{Organization: o, Role: roles[o.ID]})
	}
	return out, nil
}

// UpdateOrg implements Orgs.
func (d *DB) UpdateOrg(ctx context.Context, id string, fn func(*Organization) error) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		w := d.w(ctx)
		var o Organization
		if err := w.Clauses(lockForUpdate(w)...).Where("id = ?", id).Take(&o).Error; err != nil {
			return fmt.Errorf("organization %q: %w", id, translate(err))
		}
		if err := fn(&o); err != nil {
			return err
		}
		o.ID = id
		o.UpdatedAt = d.now().UTC()
		o.SuspendedAt = utcPtr(o.SuspendedAt)
		if err := translate(w.Select("*").Save(&o).Error); err != nil {
			return err
		}
		return d.orgChanged(ctx, id)
	})
}

// DeleteOrg implements Orgs.
func (d *DB) DeleteOrg(ctx context.Context, id string) ([]APIKey, error) {
	var revoked []APIKey
	err := d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, id); err != nil {
			return err
		}
		w := d.w(ctx)
		var n int64
		if err := w.Model(&Client{}).Where("org_id = ?", id).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n > 0 {
			return fmt.Errorf("organization %q still owns %d apps: %w", id, n, ErrConflict)
		}
		ks, err := d.revokeKeysWhere(ctx, w.Where("org_id = ?", id))
		if err != nil {
			return err
		}
		revoked = ks
		var members []string
		if err := w.Model(&Membership{}).Where("org_id = ?", id).Pluck("user_id", &members).Error; err != nil {
			return translate(err)
		}
		for _, q := range []struct {
			model any
			where string
		}{
			{&TenantGrant{}, "org_id = ?"}, {&Tenant{}, "org_id = ?"}, {&Invitation{}, "org_id = ?"},
			{&Membership{}, "org_id = ?"}, {&Organization{}, "id = ?"},
		} {
			if err := w.Where(q.where, id).Delete(q.model).Error; err != nil {
				return translate(err)
			}
		}
		for _, u := range members {
			if err := d.memberChanged(ctx, id, u); err != nil {
				return err
			}
		}
		return d.orgChanged(ctx, id)
	})
	return revoked, err
}

// revokeKeysWhere revokes, inside ctx's transaction, every unrevoked key
// the scoped query selects, deletes the access tokens exchanged from them
// and publishes their invalidations; it returns the keys it revoked.
func (d *DB) revokeKeysWhere(ctx context.Context, q *gorm.DB) ([]APIKey, error) {
	var ks []APIKey
	if err := q.Model(&APIKey{}).Where("revoked_at IS NULL").Find(&ks).Error; err != nil {
		return nil, translate(err)
	}
	if len(ks) == 0 {
		return nil, nil
	}
	now := d.now().UTC()
	ids := make([]string, len(ks))
	for i := range ks {
		ids[i] = ks[i].ID
		ks[i].RevokedAt = &now
	}
	w := d.w(ctx)
	if err := w.Model(&APIKey{}).Where("id IN ?", ids).Updates(map[string]any{"revoked_at": now, "updated_at": now}).Error; err != nil {
		return nil, translate(err)
	}
	res := w.Where("request_id IN ?", ids).Delete(&Request{})
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if err := d.accessTokensGone(ctx, KindAccess, res.RowsAffected, TokenAll); err != nil {
		return nil, err
	}
	for _, k := range ks {
		if err := d.changed(ctx, Invalidation{Topic: TopicAPIKey, ID: hex.EncodeToString(k.Digest)}); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// GetMembership implements Orgs.
func (d *DB) GetMembership(ctx context.Context, orgID, userID string) (*Membership, error) {
	var m Membership
	if err := d.r(ctx).Where("org_id = ? AND user_id = ?", orgID, userID).Take(&m).Error; err != nil {
		return nil, translate(err)
	}
	return &m, nil
}

// ListMembers implements Orgs.
func (d *DB) ListMembers(ctx context.Context, orgID string) ([]Member, error) {
	type row struct {
		Membership
		Username string
		Name     string
		Email    string
	}
	var rows []row
	err := d.r(ctx).Table("memberships").
		Select("memberships.org_id, memberships.user_id, memberships.role, memberships.created_at, users.username, users.name, users.email").
		Joins("JOIN users ON users.id = memberships.user_id").
		Where("memberships.org_id = ?", orgID).
		Order("CASE memberships.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END, users.username").
		Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{Membership: r.Membership, Username: r.Username, Name: r.Name, Email: r.Email}
	}
	return out, nil
}

// AddMember implements Orgs.
func (d *DB) AddMember(ctx context.Context, m *Membership) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, m.OrgID); err != nil {
			return err
		}
		if err := d.holdUser(ctx, m.UserID); err != nil {
			return err
		}
		m.CreatedAt = d.now().UTC()
		if err := translate(d.w(ctx).Create(m).Error); err != nil {
			return err
		}
		return d.memberChanged(ctx, m.OrgID, m.UserID)
	})
}

// lockMember returns the membership locked for the transaction.
func (d *DB) lockMember(ctx context.Context, orgID, userID string) (*Membership, error) {
	w := d.w(ctx)
	var m Membership
	if err := w.Clauses(lockForUpdate(w)...).Where("org_id = ? AND user_id = ?", orgID, userID).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("member %q of %q: %w", userID, orgID, translate(err))
	}
	return &m, nil
}

// otherOwners counts the owners of orgID other than userID; the caller
// holds the organization row (holdOrg), so concurrent demotions queue.
func (d *DB) otherOwners(ctx context.Context, orgID, userID string) (int64, error) {
	var n int64
	err := d.w(ctx).Model(&Membership{}).Where("org_id = ? AND role = 'owner' AND user_id <> ?", orgID, userID).Count(&n).Error
	return n, translate(err)
}

// SetMemberRole implements Orgs.
func (d *DB) SetMemberRole(ctx context.Context, orgID, userID, role string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, orgID); err != nil {
			return err
		}
		m, err := d.lockMember(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if m.Role == "owner" && role != "owner" {
			if n, err := d.otherOwners(ctx, orgID, userID); err != nil {
				return err
			} else if n == 0 {
				return ErrLastOwner
			}
		}
		if err := translate(d.w(ctx).Model(&Membership{}).Where("org_id = ? AND user_id = ?", orgID, userID).Update("role", role).Error); err != nil {
			return err
		}
		return d.memberChanged(ctx, orgID, userID)
	})
}

// RemoveMember implements Orgs.
func (d *DB) RemoveMember(ctx context.Context, orgID, userID string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, orgID); err != nil {
			return err
		}
		m, err := d.lockMember(ctx, orgID, userID)
		if err != nil {
			return err
		}
		if m.Role == "owner" {
			if n, err := d.otherOwners(ctx, orgID, userID); err != nil {
				return err
			} else if n == 0 {
				return ErrLastOwner
			}
		}
		w := d.w(ctx)
		if err := w.Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&TenantGrant{}).Error; err != nil {
			return translate(err)
		}
		if err := w.Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&Membership{}).Error; err != nil {
			return translate(err)
		}
		return d.memberChanged(ctx, orgID, userID)
	})
}

// TransferOwnership implements Orgs.
func (d *DB) TransferOwnership(ctx context.Context, orgID, from, to string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, orgID); err != nil {
			return err
		}
		f, err := d.lockMember(ctx, orgID, from)
		if err != nil {
			return err
		}
		if f.Role != "owner" {
			return fmt.Errorf("%q is not an owner of %q: %w", from, orgID, ErrConflict)
		}
		if _, err := d.lockMember(ctx, orgID, to); err != nil {
			return err
		}
		w := d.w(ctx)
		if from == to {
			return nil
		}
		if err := w.Model(&Membership{}).Where("org_id = ? AND user_id = ?", orgID, to).Update("role", "owner").Error; err != nil {
			return translate(err)
		}
		if err := w.Model(&Membership{}).Where("org_id = ? AND user_id = ?", orgID, from).Update("role", "admin").Error; err != nil {
			return translate(err)
		}
		if err := d.memberChanged(ctx, orgID, to); err != nil {
			return err
		}
		return d.memberChanged(ctx, orgID, from)
	})
}

// CreateTenant implements Orgs.
func (d *DB) CreateTenant(ctx context.Context, t *Tenant) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, t.OrgID); err != nil {
			return err
		}
		now := d.now().UTC()
		t.CreatedAt, t.UpdatedAt = now, now
		if err := translate(d.w(ctx).Create(t).Error); err != nil {
			return err
		}
		return d.orgChanged(ctx, t.OrgID)
	})
}

// GetTenant implements Orgs.
func (d *DB) GetTenant(ctx context.Context, orgID, id string) (*Tenant, error) {
	var t Tenant
	if err := d.r(ctx).Where("org_id = ? AND id = ?", orgID, id).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// ListTenants implements Orgs.
func (d *DB) ListTenants(ctx context.Context, orgID string) ([]Tenant, error) {
	out := []Tenant{}
	err := d.r(ctx).Where("org_id = ?", orgID).Order("name, id").Find(&out).Error
	return out, translate(err)
}

// RenameTenant implements Orgs.
func (d *DB) RenameTenant(ctx context.Context, orgID, id, name string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&Tenant{}).Where("org_id = ? AND id = ?", orgID, id).
			Updates(map[string]any{"name": name, "updated_at": d.now().UTC()})
		if err := translate(res.Error); err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("tenant %q of %q: %w", id, orgID, ErrNotFound)
		}
		return d.orgChanged(ctx, orgID)
	})
}

// DeleteTenant implements Orgs.
func (d *DB) DeleteTenant(ctx context.Context, orgID, id string) ([]APIKey, error) {
	var revoked []APIKey
	err := d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, orgID); err != nil {
			return err
		}
		w := d.w(ctx)
		res := w.Where("org_id = ? AND id = ?", orgID, id).Delete(&Tenant{})
		if err := translate(res.Error); err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("tenant %q of %q: %w", id, orgID, ErrNotFound)
		}
		var grantees []string
		if err := w.Model(&TenantGrant{}).Where("tenant_id = ?", id).Pluck("user_id", &grantees).Error; err != nil {
			return translate(err)
		}
		if err := w.Where("tenant_id = ?", id).Delete(&TenantGrant{}).Error; err != nil {
			return translate(err)
		}
		ks, err := d.revokeKeysWhere(ctx, w.Where("tenant_id = ?", id))
		if err != nil {
			return err
		}
		revoked = ks
		for _, u := range grantees {
			if err := d.memberChanged(ctx, orgID, u); err != nil {
				return err
			}
		}
		return d.orgChanged(ctx, orgID)
	})
	return revoked, err
}

// SetTenantGrant implements Orgs.
func (d *DB) SetTenantGrant(ctx context.Context, g *TenantGrant) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, g.OrgID); err != nil {
			return err
		}
		if _, err := d.GetTenant(ctx, g.OrgID, g.TenantID); err != nil {
			return fmt.Errorf("tenant %q of %q: %w", g.TenantID, g.OrgID, err)
		}
		if _, err := d.lockMember(ctx, g.OrgID, g.UserID); err != nil {
			return err
		}
		w := d.w(ctx)
		res := w.Model(&TenantGrant{}).Where("tenant_id = ? AND user_id = ?", g.TenantID, g.UserID).Update("role", g.Role)
		if err := translate(res.Error); err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			g.CreatedAt = d.now().UTC()
			if err := translate(w.Create(g).Error); err != nil {
				return err
			}
		}
		return d.memberChanged(ctx, g.OrgID, g.UserID)
	})
}

// DeleteTenantGrant implements Orgs.
func (d *DB) DeleteTenantGrant(ctx context.Context, orgID, tenantID, userID string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("org_id = ? AND tenant_id = ? AND user_id = ?", orgID, tenantID, userID).Delete(&TenantGrant{})
		if err := translate(res.Error); err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("grant of %q to %q: %w", tenantID, userID, ErrNotFound)
		}
		return d.memberChanged(ctx, orgID, userID)
	})
}

// ListTenantGrants implements Orgs.
func (d *DB) ListTenantGrants(ctx context.Context, orgID, userID string) ([]TenantGrant, error) {
	out := []TenantGrant{}
	err := d.r(ctx).Where("org_id = ? AND user_id = ?", orgID, userID).Order("tenant_id").Find(&out).Error
	return out, translate(err)
}

// ListGrantsOfTenant implements Orgs.
func (d *DB) ListGrantsOfTenant(ctx context.Context, orgID, tenantID string) ([]TenantGrant, error) {
	out := []TenantGrant{}
	err := d.r(ctx).Where("org_id = ? AND tenant_id = ?", orgID, tenantID).Order("user_id").Find(&out).Error
	return out, translate(err)
}

// CreateInvitation implements Orgs.
func (d *DB) CreateInvitation(ctx context.Context, inv *Invitation) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOrg(ctx, inv.OrgID); err != nil {
			return err
		}
		inv.CreatedAt = d.now().UTC()
		inv.ExpiresAt = inv.ExpiresAt.UTC()
		return translate(d.w(ctx).Create(inv).Error)
	})
}

// ListInvitations implements Orgs.
func (d *DB) ListInvitations(ctx context.Context, orgID string, now time.Time) ([]Invitation, error) {
	out := []Invitation{}
	err := d.r(ctx).Where("org_id = ? AND accepted_at IS NULL AND expires_at > ?", orgID, now.UTC()).
		Order("created_at DESC, id").Find(&out).Error
	return out, translate(err)
}

// GetInvitationByDigest implements Orgs.
func (d *DB) GetInvitationByDigest(ctx context.Context, digest []byte) (*Invitation, error) {
	var inv Invitation
	if err := d.r(ctx).Where("digest = ?", digest).Take(&inv).Error; err != nil {
		return nil, translate(err)
	}
	return &inv, nil
}

// DeleteInvitation implements Orgs.
func (d *DB) DeleteInvitation(ctx context.Context, orgID, id string) error {
	res := d.w(ctx).Where("org_id = ? AND id = ? AND accepted_at IS NULL", orgID, id).Delete(&Invitation{})
	if err := translate(res.Error); err != nil {
		return err
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("invitation %q of %q: %w", id, orgID, ErrNotFound)
	}
	return nil
}

// AcceptInvitation implements Orgs.
func (d *DB) AcceptInvitation(ctx context.Context, digest []byte, userID string, now time.Time) (*Invitation, error) {
	var out *Invitation
	err := d.InTx(ctx, func(ctx context.Context) error {
		w := d.w(ctx)
		var inv Invitation
		if err := w.Clauses(lockForUpdate(w)...).Where("digest = ?", digest).Take(&inv).Error; err != nil {
			return translate(err)
		}
		out = &inv
		if inv.AcceptedAt != nil || !now.Before(inv.ExpiresAt) {
			return fmt.Errorf("invitation %q: %w", inv.ID, ErrInactive)
		}
		if err := d.holdOrg(ctx, inv.OrgID); err != nil {
			return err
		}
		if err := d.holdUser(ctx, userID); err != nil {
			return err
		}
		res := w.Model(&Invitation{}).Where("id = ? AND accepted_at IS NULL", inv.ID).
			Updates(map[string]any{"accepted_at": now.UTC(), "accepted_by": userID})
		if err := translate(res.Error); err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("invitation %q: %w", inv.ID, ErrInactive)
		}
		m := &Membership{OrgID: inv.OrgID, UserID: userID, Role: inv.Role, CreatedAt: now.UTC()}
		if err := translate(w.Create(m).Error); err != nil {
			return err
		}
		t := now.UTC()
		inv.AcceptedAt, inv.AcceptedBy = &t, userID
		return d.memberChanged(ctx, inv.OrgID, userID)
	})
	if err != nil && !errors.Is(err, ErrInactive) {
		return nil, err
	}
	return out, err
}

// AddOrgEvent implements Orgs.
func (d *DB) AddOrgEvent(ctx context.Context, e *OrgEvent) error {
	if e.At.IsZero() {
		e.At = d.now()
	}
	e.At = e.At.UTC()
	return translate(d.w(ctx).Create(e).Error)
}

// ListOrgEvents implements Orgs.
func (d *DB) ListOrgEvents(ctx context.Context, orgID string, before uint64, limit int) ([]OrgEvent, error) {
	out := []OrgEvent{}
	q := d.r(ctx).Where("org_id = ?", orgID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	err := q.Order("id DESC").Limit(limit).Find(&out).Error
	return out, translate(err)
}

// ListOrgAPIKeys implements Orgs.
func (d *DB) ListOrgAPIKeys(ctx context.Context, orgID string) ([]APIKey, error) {
	out := []APIKey{}
	err := d.r(ctx).Where("org_id = ?", orgID).Order("created_at DESC, id").Find(&out).Error
	return out, translate(err)
}

// ListOrgClients implements Orgs.
func (d *DB) ListOrgClients(ctx context.Context, orgID string) ([]Client, error) {
	out := []Client{}
	err := d.r(ctx).Where("org_id = ?", orgID).Order("created_at DESC, id").Find(&out).Error
	return out, translate(err)
}

// SetUserSuspended implements Orgs.
func (d *DB) SetUserSuspended(ctx context.Context, userID string, at *time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		return d.updateUser(ctx, userID, map[string]any{"suspended_at": utcPtr(at)})
	})
}
