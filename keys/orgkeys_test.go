package keys

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

const (
	tenantA = "tnt_aaaaaaaaaaaaaaaaaaaaaaaaaa"
	tenantB = "tnt_bbbbbbbbbbbbbbbbbbbbbbbbbb"
	tenantX = "tnt_xxxxxxxxxxxxxxxxxxxxxxxxxx" // of the other organization
)

// haveOrgs makes org_1 (owner u, tenants A and B) and org_2 (owner u2,
// tenant X).
func haveOrgs(t *testing.T, cs *countingStore) {
	t.Helper()
	ctx := t.Context()
	for _, o := range []struct{ id, owner string }{{"org_1", "u"}, {"org_2", "u2"}} {
		if err := cs.CreateOrg(ctx, &storage.Organization{ID: o.id, Name: o.id}, o.owner); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range []storage.Tenant{{ID: tenantA, OrgID: "org_1", Name: "a"}, {ID: tenantB, OrgID: "org_1", Name: "b"}, {ID: tenantX, OrgID: "org_2", Name: "x"}} {
		if err := cs.CreateTenant(ctx, &tn); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreateOrgKeys: the owner and tenant narrowing of organization keys,
// and the refusals for tenants that are not the organization's.
func TestCreateOrgKeys(t *testing.T) {
	s, cs, _, _ := newService(t, false)
	haveOrgs(t, cs)
	cases := []struct {
		name        string
		req         CreateRequest
		wantOwner   string
		wantTenants []string
		wantTier    string
		wantField   string
	}{
		{name: "personal org key inherits the org tier", req: CreateRequest{Handle: "p1", OrgID: "org_1"}, wantOwner: "u", wantTier: ""},
		{name: "personal org key with its own tier", req: CreateRequest{Handle: "p2", OrgID: "org_1", Tier: "pro"}, wantOwner: "u", wantTier: "pro"},
		{name: "narrowed, duplicates dropped", req: CreateRequest{Handle: "p3", OrgID: "org_1", Tenants: []string{tenantB, tenantA, tenantB}}, wantOwner: "u", wantTenants: []string{tenantB, tenantA}},
		{name: "workspace key belongs to its tenant", req: CreateRequest{Handle: "w1", OrgID: "org_1", TenantID: tenantA}, wantOwner: tenantA},
		{name: "key outside orgs gets the default tier", req: CreateRequest{Handle: "x1"}, wantOwner: "u", wantTier: "free"},
		{name: "tenant of another org", req: CreateRequest{Handle: "e1", OrgID: "org_1", Tenants: []string{tenantX}}, wantField: "tenants"},
		{name: "not a tenant id", req: CreateRequest{Handle: "e2", OrgID: "org_1", Tenants: []string{"'; drop"}}, wantField: "tenants"},
		{name: "workspace key of another org's tenant", req: CreateRequest{Handle: "e3", OrgID: "org_1", TenantID: tenantX}, wantField: "tenant_id"},
		{name: "workspace key narrowed", req: CreateRequest{Handle: "e4", OrgID: "org_1", TenantID: tenantA, Tenants: []string{tenantA}}, wantField: "tenants"},
		{name: "tenants without an org", req: CreateRequest{Handle: "e5", Tenants: []string{tenantA}}, wantField: "tenants"},
		{name: "tenant_id without an org", req: CreateRequest{Handle: "e6", TenantID: tenantA}, wantField: "tenant_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, plain, err := s.Create(t.Context(), "u", owner, tc.req)
			if tc.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("err = %v, want a FieldError on %q", err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.UserID != tc.wantOwner || k.CreatedBy != "u" || k.OrgID != tc.req.OrgID || k.TenantID != tc.req.TenantID {
				t.Fatalf("key = owner %q by %q org %q tenant %q", k.UserID, k.CreatedBy, k.OrgID, k.TenantID)
			}
			if !slices.Equal(k.Tenants, tc.wantTenants) {
				t.Fatalf("tenants = %v, want %v", k.Tenants, tc.wantTenants)
			}
			if tc.name != "workspace key belongs to its tenant" && k.Tier != tc.wantTier {
				t.Fatalf("tier = %q, want %q", k.Tier, tc.wantTier)
			}
			got, err := s.Verify(t.Context(), plain, "")
			if err != nil || got.OrgID != tc.req.OrgID || !slices.Equal(got.Tenants, tc.wantTenants) {
				t.Fatalf("verify = %+v, %v", got, err)
			}
		})
	}
	// Handles are unique per owner: the tenant and the person each have theirs.
	if _, _, err := s.Create(t.Context(), "u2", owner, CreateRequest{Handle: "w1", OrgID: "org_1", TenantID: tenantA}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second w1 in tenant A: %v, want ErrConflict", err)
	}
	if _, _, err := s.Create(t.Context(), "u", owner, CreateRequest{Handle: "w1", OrgID: "org_1", TenantID: tenantB}); err != nil {
		t.Fatalf("w1 in tenant B: %v", err)
	}
	if _, _, err := s.Create(t.Context(), "u", owner, CreateRequest{Handle: "w1"}); err != nil {
		t.Fatalf("personal w1: %v", err)
	}
}

// TestOrgKeyByID: listing, rotating and revoking by id stay inside the
// organization; a rotation keeps the key's organization, tenant,
// narrowing, inherited tier and maker.
func TestOrgKeyByID(t *testing.T) {
	s, cs, _, _ := newService(t, false)
	haveOrgs(t, cs)
	ctx := t.Context()
	ws, _, err := s.Create(ctx, "u", owner, CreateRequest{Handle: "ws", OrgID: "org_1", TenantID: tenantA})
	if err != nil {
		t.Fatal(err)
	}
	pk, _, err := s.Create(ctx, "u", owner, CreateRequest{Handle: "pk", OrgID: "org_1", Tenants: []string{tenantB}})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Create(ctx, "u2", owner, CreateRequest{Handle: "o", OrgID: "org_2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "u", owner, CreateRequest{Handle: "mine"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListOrg(ctx, "org_1")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListOrg = %d keys, %v; want 2", len(list), err)
	}
	for _, tc := range []struct{ name, org, id string }{
		{"another org's key", "org_1", other.ID},
		{"no org", "", pk.ID},
		{"unknown id", "org_1", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.RevokeInOrg(ctx, tc.org, tc.id, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("revoke: %v, want ErrNotFound", err)
			}
			if _, _, err := s.RotateInOrg(ctx, tc.org, tc.id, owner, 0, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("rotate: %v, want ErrNotFound", err)
			}
		})
	}
	fresh, plain, err := s.RotateInOrg(ctx, "org_1", pk.ID, Authority{Scopes: allScopes, CanRead: true}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.OrgID != "org_1" || !slices.Equal(fresh.Tenants, []string{tenantB}) || fresh.Tier != "" || fresh.CreatedBy != "u" || fresh.UserID != "u" {
		t.Fatalf("rotated = %+v", fresh)
	}
	if _, err := s.Verify(ctx, plain, ""); err != nil {
		t.Fatal(err)
	}
	fw, _, err := s.RotateInOrg(ctx, "org_1", ws.ID, owner, time.Minute, "")
	if err != nil || fw.TenantID != tenantA || fw.UserID != tenantA || fw.Handle != "ws" {
		t.Fatalf("rotated workspace key = %+v, %v", fw, err)
	}
	// A credential narrower than the key gets no new secret for it.
	if _, _, err := s.RotateInOrg(ctx, "org_1", fw.ID, Authority{Scopes: []string{"users:read"}, CanRead: true}, 0, ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("narrow rotate: %v, want ErrForbidden", err)
	}
	r, err := s.RevokeInOrg(ctx, "org_1", fw.ID, "")
	if err != nil || r.RevokedAt == nil {
		t.Fatalf("revoke = %+v, %v", r, err)
	}
}
