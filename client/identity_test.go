package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestIdentityOrganizationFields(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret, WithCacheTTL(0))
	for _, tc := range []struct {
		cred string
		want *Identity
	}{
		{memberKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-orgmember", Scopes: []string{"videos:read", "billing:read", "keys:write"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindPersonal, Organization: acme, Tenants: []Tenant{tenantAlpha, tenantBeta}}},
		{workspaceKey, &Identity{Kind: KindAPIKey, Subject: "tnt_a", KeyID: "key-workspace", Scopes: []string{"videos:read"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindWorkspace, Organization: &Organization{ID: "org_1", Name: "Acme"},
			Tenants: []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}}},
		{personalKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-personal", Scopes: []string{"users:read"},
			Environment: "live", Tier: "pro", KeyKind: KeyKindPersonal, Tenants: []Tenant{aliceSpace}}},
		{legacyKey, &Identity{Kind: KindAPIKey, Subject: "user-1", KeyID: "key-legacy", Scopes: []string{"users:read"}, Environment: "live", Tier: "pro"}},
		{orgTok, &Identity{Kind: KindAccessToken, Subject: "user-1", ClientID: "app", Scopes: []string{"videos:read", "billing:read"},
			Organization: &Organization{ID: "org_1", Role: "admin"}, Tenants: []Tenant{tenantAlpha, {ID: "tnt_b", Name: "Beta", Role: TenantReadWrite}}}},
		{wsKeyTok, &Identity{Kind: KindAccessToken, Subject: "tnt_a", KeyID: "key-ws", Scopes: []string{"videos:read"}, KeyKind: KeyKindWorkspace,
			Organization: &Organization{ID: "org_1"}, Tenants: []Tenant{{ID: "tnt_a", Name: "Alpha", Role: TenantReadOnly}}}},
		{legacyTok, &Identity{Kind: KindAccessToken, Subject: "user-1", Scopes: []string{"users:read"}}},
	} {
		t.Run(tc.cred, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.cred)
			if err != nil {
				t.Fatal(err)
			}
			id.ExpiresAt = time.Time{}
			if mustJSONString(id) != mustJSONString(tc.want) {
				t.Fatalf("got  %s\nwant %s", mustJSONString(id), mustJSONString(tc.want))
			}
			if tc.want.Organization == nil && id.Organization != nil || tc.want.Tenants == nil && id.Tenants != nil {
				t.Fatalf("absent fields must stay nil: %+v", id)
			}
		})
	}
	for _, cred := range []string{lostOrgKey, disabledKey} {
		if id, err := v.Verify(context.Background(), cred); id != nil || !errors.Is(err, ErrInvalidCredential) {
			t.Errorf("%s: got %v, %v; want ErrInvalidCredential", cred, id, err)
		}
	}
}

// TestIdentityCopies: callers get deep copies, so changing the returned
// organization or tenants does not change the cached identity.
func TestIdentityCopies(t *testing.T) {
	f := newOrgLatchkey(t)
	v := NewVerifier(f.URL, rsID, rsSecret)
	id, err := v.Verify(context.Background(), memberKey)
	if err != nil {
		t.Fatal(err)
	}
	id.Organization.Role = "owner"
	id.Tenants[1].Role = TenantReadWrite
	again, _ := v.Verify(context.Background(), memberKey)
	if again.Organization.Role != "member" || again.CanAccessTenant("tnt_b", PermissionWrite) || f.verifies.Load() != 1 {
		t.Fatalf("cached identity was changed through a copy: %+v, %+v", again.Organization, again.Tenants)
	}
}

func TestCanAccessTenant(t *testing.T) {
	member := &Identity{Tenants: []Tenant{tenantAlpha, tenantBeta, {ID: "tnt_odd", Role: "admin"}}}
	personal := &Identity{Subject: "user-1", Tenants: []Tenant{aliceSpace}}
	legacy := &Identity{Subject: "user-1", Scopes: []string{"users:read"}}
	for _, tc := range []struct {
		name         string
		id           *Identity
		tenant, perm string
		want         bool
	}{
		{"read-write reads", member, "tnt_a", PermissionRead, true},
		{"read-write writes", member, "tnt_a", PermissionWrite, true},
		{"read-only reads", member, "tnt_b", PermissionRead, true},
		{"read-only does not write", member, "tnt_b", PermissionWrite, false},
		{"unlisted tenant", member, "tnt_c", PermissionRead, false},
		{"unknown role", member, "tnt_odd", PermissionRead, false},
		{"unknown permission", member, "tnt_a", "admin", false},
		{"permission is case-sensitive", member, "tnt_a", "Read", false},
		{"empty tenant", member, "", PermissionRead, false},
		{"personal workspace owner writes", personal, "user-1", PermissionWrite, true},
		{"personal workspace owner reads", personal, "user-1", PermissionRead, true},
		{"older server: no tenants, not even the subject's", legacy, "user-1", PermissionRead, false},
		{"nil identity", nil, "tnt_a", PermissionRead, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.CanAccessTenant(tc.tenant, tc.perm); got != tc.want {
				t.Errorf("CanAccessTenant(%q, %q) = %v, want %v", tc.tenant, tc.perm, got, tc.want)
			}
		})
	}
}
