package keys

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Organization keys (SPEC §3.3a). Package keys stores them and keeps the
// authority rule (Authority) for them as for every key; who may make,
// list, rotate or revoke which organization key is package orgs' decision
// (orgs.Check, orgs.CheckWorkspaceKey), taken by the caller before it
// calls the methods below. This package holds no role logic.

// maxKeyTenants bounds how many tenants a key may be narrowed to.
const maxKeyTenants = 100

// tenantIDRe is the shape of a tenant id (orgs.NewID("tnt")); anything
// else is refused before a lookup.
var tenantIDRe = regexp.MustCompile(`^tnt_[a-z2-7]{26}$`)

// orgOwner returns the owner of the key req asks for and its tenant
// narrowing: the person (userID) for a personal key, the tenant for a
// workspace key (req.TenantID, which must be a tenant of req.OrgID); and
// checks req.Tenants, each a tenant of req.OrgID (*FieldError "tenants",
// "tenant_id" otherwise).
func (s *Service) orgOwner(ctx context.Context, userID string, req CreateRequest) (string, []string, error) {
	if req.OrgID == "" {
		switch {
		case req.TenantID != "":
			return "", nil, invalid("tenant_id", "a workspace key belongs to an organization: name it")
		case len(req.Tenants) > 0:
			return "", nil, invalid("tenants", "only organization keys can be narrowed to tenants")
		}
		return userID, nil, nil
	}
	if req.TenantID != "" {
		if len(req.Tenants) > 0 {
			return "", nil, invalid("tenants", "a workspace key belongs to one tenant (tenant_id); tenants narrows personal keys only")
		}
		if err := s.tenantOf(ctx, "tenant_id", req.OrgID, req.TenantID); err != nil {
			return "", nil, err
		}
		return req.TenantID, nil, nil
	}
	if len(req.Tenants) > maxKeyTenants {
		return "", nil, invalid("tenants", "a key can be narrowed to at most %d tenants", maxKeyTenants)
	}
	var tenants []string
	for _, t := range req.Tenants {
		if slices.Contains(tenants, t) {
			continue
		}
		if err := s.tenantOf(ctx, "tenants", req.OrgID, t); err != nil {
			return "", nil, err
		}
		tenants = append(tenants, t)
	}
	return userID, tenants, nil
}

// tenantOf checks that id is a tenant of orgID.
func (s *Service) tenantOf(ctx context.Context, field, orgID, id string) error {
	if !tenantIDRe.MatchString(id) {
		return invalid(field, "%q is not a tenant id (tnt_…)", id)
	}
	_, err := s.store.GetTenant(ctx, orgID, id)
	if errors.Is(err, storage.ErrNotFound) {
		return invalid(field, "%q is not a tenant of this organization", id)
	}
	return err
}

// ListOrg returns every key bound to the organization (personal keys made
// in it and workspace keys), newest first.
func (s *Service) ListOrg(ctx context.Context, orgID string) ([]storage.APIKey, error) {
	return s.store.ListOrgAPIKeys(ctx, orgID)
}

// GetInOrg returns the key with id if it belongs to orgID; ErrNotFound
// otherwise (a key of another organization looks missing).
func (s *Service) GetInOrg(ctx context.Context, orgID, id string) (*storage.APIKey, error) {
	k, err := s.store.GetAPIKey(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrNotFound
	case err != nil:
		return nil, err
	case orgID == "" || k.OrgID != orgID:
		return nil, fmt.Errorf("%w: key %q is not of organization %q", ErrNotFound, id, orgID)
	}
	return k, nil
}

// RevokeInOrg revokes the organization's key with id, like Revoke does a
// user's key by handle (the key's rotation line, its descendants and the
// tokens exchanged from it), for a person the caller has found allowed to
// (an organization administrator, the key's owner, a tenant's
// read-write member). ErrNotFound for a key of another organization.
func (s *Service) RevokeInOrg(ctx context.Context, orgID, id, ip string) (*storage.APIKey, error) {
	k, err := s.GetInOrg(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	line, err := s.revokeLine(ctx, k, ip, false)
	if err != nil {
		return nil, err
	}
	return line[0], nil
}

// RotateInOrg rotates the organization's key with id on behalf of the
// credential a, like Rotate (the key must be within a: a credential
// receiving a new secret never gets more than its own scopes), for a
// person the caller has found allowed to. ErrNotFound for a key of
// another organization.
func (s *Service) RotateInOrg(ctx context.Context, orgID, id string, a Authority, grace time.Duration, ip string) (*storage.APIKey, string, error) {
	k, err := s.GetInOrg(ctx, orgID, id)
	if err != nil {
		return nil, "", err
	}
	return s.Rotate(ctx, k.UserID, k.Handle, a, grace, ip)
}
