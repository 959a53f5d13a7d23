package storagetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// orgFixture stores users alice (owner), bob (member) and carol (no
// member) and organization o1 with tenants t1, t2; bob holds read-only
// on t1. A second organization o2 owned by carol has tenant t9.
func orgFixture(t *testing.T, ctx context.Context, s storage.Store) {
	t.Helper()
	haveUsers(t, ctx, s, "alice", "bob", "carol")
	must(t, s.CreateOrg(ctx, &storage.Organization{ID: "o1", Name: "Acme"}, "alice"), "CreateOrg o1")
	must(t, s.CreateOrg(ctx, &storage.Organization{ID: "o2", Name: "Other"}, "carol"), "CreateOrg o2")
	must(t, s.AddMember(ctx, &storage.Membership{OrgID: "o1", UserID: "bob", Role: "member"}), "AddMember bob")
	for _, tn := range []storage.Tenant{{ID: "t1", OrgID: "o1", Name: "prod"}, {ID: "t2", OrgID: "o1", Name: "staging"}, {ID: "t9", OrgID: "o2", Name: "prod"}} {
		must(t, s.CreateTenant(ctx, &tn), "CreateTenant "+tn.ID)
	}
	must(t, s.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: "o1", TenantID: "t1", UserID: "bob", Role: "read-only"}), "grant t1")
}

func testOrgCreateList(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	wantErr(t, s.CreateOrg(ctx, &storage.Organization{ID: "o3", Name: "Ghost"}, "nobody"), storage.ErrNotFound, "an org for a missing owner")
	if _, err := s.GetOrg(ctx, "o3"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the refused org was stored: %v", err)
	}
	o, err := s.GetOrg(ctx, "o1")
	must(t, err, "GetOrg")
	if o.Name != "Acme" || o.Tier != "" || o.SuspendedAt != nil || o.CreatedAt.IsZero() {
		t.Errorf("GetOrg = %+v", o)
	}
	mine, err := s.ListUserOrgs(ctx, "bob")
	must(t, err, "ListUserOrgs")
	if len(mine) != 1 || mine[0].ID != "o1" || mine[0].Role != "member" {
		t.Errorf("bob's orgs = %+v, want o1 as member", mine)
	}
	none, err := s.ListUserOrgs(ctx, "nobody")
	must(t, err, "ListUserOrgs nobody")
	if none == nil || len(none) != 0 {
		t.Errorf("ListUserOrgs(nobody) = %#v, want empty", none)
	}
	all, err := s.ListOrgs(ctx, "", 10)
	must(t, err, "ListOrgs")
	if len(all) != 2 || all[0].ID != "o1" {
		t.Errorf("ListOrgs = %+v", all)
	}
	page, err := s.ListOrgs(ctx, "o1", 10)
	must(t, err, "ListOrgs after")
	if len(page) != 1 || page[0].ID != "o2" {
		t.Errorf("ListOrgs after o1 = %+v", page)
	}
	at := time.Now().UTC().Truncate(time.Second)
	must(t, s.UpdateOrg(ctx, "o1", func(o *storage.Organization) error { o.Tier, o.SuspendedAt = "pro", &at; return nil }), "UpdateOrg")
	o, _ = s.GetOrg(ctx, "o1")
	if o.Tier != "pro" || o.SuspendedAt == nil || !sameTime(*o.SuspendedAt, at) {
		t.Errorf("after UpdateOrg = %+v", o)
	}
	boom := errors.New("boom")
	wantErr(t, s.UpdateOrg(ctx, "o1", func(o *storage.Organization) error { o.Name = "x"; return boom }), boom, "UpdateOrg fn error")
	if o, _ = s.GetOrg(ctx, "o1"); o.Name != "Acme" {
		t.Errorf("a failed UpdateOrg wrote: %+v", o)
	}
	wantErr(t, s.UpdateOrg(ctx, "nope", func(*storage.Organization) error { return nil }), storage.ErrNotFound, "UpdateOrg missing")
}

func testOrgMembersLastOwner(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	wantErr(t, s.AddMember(ctx, &storage.Membership{OrgID: "o1", UserID: "bob", Role: "admin"}), storage.ErrConflict, "adding a member twice")
	wantErr(t, s.AddMember(ctx, &storage.Membership{OrgID: "o1", UserID: "nobody", Role: "member"}), storage.ErrNotFound, "adding a missing user")
	wantErr(t, s.AddMember(ctx, &storage.Membership{OrgID: "nope", UserID: "carol", Role: "member"}), storage.ErrNotFound, "adding to a missing org")
	ms, err := s.ListMembers(ctx, "o1")
	must(t, err, "ListMembers")
	if len(ms) != 2 || ms[0].UserID != "alice" || ms[0].Role != "owner" || ms[0].Username != "user-alice" || ms[1].UserID != "bob" {
		t.Fatalf("ListMembers = %+v, want alice (owner) then bob", ms)
	}
	wantErr(t, s.SetMemberRole(ctx, "o1", "alice", "admin"), storage.ErrLastOwner, "demoting the last owner")
	wantErr(t, s.RemoveMember(ctx, "o1", "alice"), storage.ErrLastOwner, "removing the last owner")
	if !errors.Is(storage.ErrLastOwner, storage.ErrConflict) {
		t.Error("ErrLastOwner does not match ErrConflict")
	}
	wantErr(t, s.SetMemberRole(ctx, "o1", "carol", "admin"), storage.ErrNotFound, "a role for a non-member")
	must(t, s.SetMemberRole(ctx, "o1", "bob", "owner"), "promote bob")
	must(t, s.SetMemberRole(ctx, "o1", "alice", "admin"), "demote alice with bob owning")
	// Two owners demoting each other at once: one must stay.
	must(t, s.SetMemberRole(ctx, "o1", "alice", "owner"), "alice owner again")
	errs := runConcurrently(2, func(i int) error {
		return s.SetMemberRole(ctx, "o1", []string{"alice", "bob"}[i], "member")
	})
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, storage.ErrLastOwner) {
			t.Errorf("concurrent demotion: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of 2 concurrent demotions of the two owners succeeded, want 1", ok)
	}
	must(t, s.TransferOwnership(ctx, "o2", "carol", "carol"), "transfer to oneself is a no-op")
	wantErr(t, s.TransferOwnership(ctx, "o2", "carol", "bob"), storage.ErrNotFound, "transfer to a non-member")
}

func testOrgTransferRemove(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	wantErr(t, s.TransferOwnership(ctx, "o1", "bob", "alice"), storage.ErrConflict, "transfer by a non-owner")
	must(t, s.TransferOwnership(ctx, "o1", "alice", "bob"), "transfer")
	a, _ := s.GetMembership(ctx, "o1", "alice")
	b, _ := s.GetMembership(ctx, "o1", "bob")
	if a == nil || b == nil || a.Role != "admin" || b.Role != "owner" {
		t.Fatalf("after transfer alice=%+v bob=%+v", a, b)
	}
	must(t, s.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: "o1", TenantID: "t2", UserID: "alice", Role: "read-write"}), "grant alice t2")
	must(t, s.RemoveMember(ctx, "o1", "alice"), "remove alice")
	_, err := s.GetMembership(ctx, "o1", "alice")
	wantErr(t, err, storage.ErrNotFound, "removed membership")
	gs, err := s.ListTenantGrants(ctx, "o1", "alice")
	must(t, err, "ListTenantGrants")
	if len(gs) != 0 {
		t.Errorf("a removed member keeps grants %+v", gs)
	}
	wantErr(t, s.RemoveMember(ctx, "o1", "alice"), storage.ErrNotFound, "removing twice")
}

func testOrgTenantsIsolation(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	wantErr(t, s.CreateTenant(ctx, &storage.Tenant{ID: "t3", OrgID: "o1", Name: "prod"}), storage.ErrConflict, "a second tenant named prod")
	wantErr(t, s.CreateTenant(ctx, &storage.Tenant{ID: "t4", OrgID: "nope", Name: "x"}), storage.ErrNotFound, "a tenant of a missing org")
	_, err := s.GetTenant(ctx, "o1", "t9")
	wantErr(t, err, storage.ErrNotFound, "another org's tenant")
	wantErr(t, s.RenameTenant(ctx, "o1", "t9", "mine"), storage.ErrNotFound, "renaming another org's tenant")
	_, err = s.DeleteTenant(ctx, "o1", "t9")
	wantErr(t, err, storage.ErrNotFound, "deleting another org's tenant")
	wantErr(t, s.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: "o1", TenantID: "t9", UserID: "bob", Role: "read-write"}), storage.ErrNotFound, "granting another org's tenant")
	wantErr(t, s.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: "o1", TenantID: "t1", UserID: "carol", Role: "read-write"}), storage.ErrNotFound, "granting a non-member")
	if tn, err := s.GetTenant(ctx, "o2", "t9"); err != nil || tn.Name != "prod" {
		t.Errorf("t9 after the attempts = %+v, %v", tn, err)
	}
	ts, err := s.ListTenants(ctx, "o1")
	must(t, err, "ListTenants")
	if len(ts) != 2 || ts[0].ID != "t1" || ts[1].ID != "t2" {
		t.Errorf("ListTenants = %+v", ts)
	}
	must(t, s.RenameTenant(ctx, "o1", "t2", "preview"), "rename")
	wantErr(t, s.RenameTenant(ctx, "o1", "t2", "prod"), storage.ErrConflict, "rename onto a taken name")
	// Upsert: the second grant changes the role.
	must(t, s.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: "o1", TenantID: "t1", UserID: "bob", Role: "read-write"}), "regrant")
	gs, err := s.ListTenantGrants(ctx, "o1", "bob")
	must(t, err, "ListTenantGrants")
	if len(gs) != 1 || gs[0].Role != "read-write" || gs[0].TenantID != "t1" {
		t.Errorf("bob's grants = %+v", gs)
	}
	byTenant, err := s.ListGrantsOfTenant(ctx, "o1", "t1")
	must(t, err, "ListGrantsOfTenant")
	if len(byTenant) != 1 || byTenant[0].UserID != "bob" {
		t.Errorf("grants of t1 = %+v", byTenant)
	}
	wantErr(t, s.DeleteTenantGrant(ctx, "o2", "t1", "bob"), storage.ErrNotFound, "revoking through another org")
	must(t, s.DeleteTenantGrant(ctx, "o1", "t1", "bob"), "revoke")
	wantErr(t, s.DeleteTenantGrant(ctx, "o1", "t1", "bob"), storage.ErrNotFound, "revoking twice")
}

func testOrgWorkspaceKeys(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	ws := newKey("kw", "t1", "ci", 41)
	ws.OrgID, ws.TenantID, ws.CreatedBy = "o1", "t1", "bob"
	must(t, s.CreateAPIKey(ctx, ws), "workspace key")
	dup := newKey("kw2", "t1", "ci", 42)
	dup.OrgID, dup.TenantID = "o1", "t1"
	wantErr(t, s.CreateAPIKey(ctx, dup), storage.ErrConflict, "a second ci handle in t1")
	other := newKey("kw3", "t9", "x", 43)
	other.OrgID, other.TenantID = "o1", "t9"
	wantErr(t, s.CreateAPIKey(ctx, other), storage.ErrNotFound, "a workspace key for another org's tenant")
	bad := newKey("kw4", "bob", "y", 44)
	bad.OrgID, bad.TenantID = "o1", "t1"
	wantErr(t, s.CreateAPIKey(ctx, bad), storage.ErrNotFound, "a workspace key owned by a person")
	personal := newKey("kp", "bob", "mine", 45)
	personal.OrgID, personal.Tenants = "o1", []string{"t1"}
	must(t, s.CreateAPIKey(ctx, personal), "personal org key")
	ghost := newKey("kg", "bob", "ghost", 46)
	ghost.OrgID = "nope"
	wantErr(t, s.CreateAPIKey(ctx, ghost), storage.ErrNotFound, "a key of a missing org")
	got, err := s.GetAPIKey(ctx, "kp")
	must(t, err, "GetAPIKey")
	wantStrings(t, "narrowed tenants", got.Tenants, []string{"t1"})
	ks, err := s.ListOrgAPIKeys(ctx, "o1")
	must(t, err, "ListOrgAPIKeys")
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	wantStrings(t, "org keys", ids, []string{"kp", "kw"})
	revoked, err := s.DeleteTenant(ctx, "o1", "t1")
	must(t, err, "DeleteTenant")
	if len(revoked) != 1 || revoked[0].ID != "kw" {
		t.Errorf("DeleteTenant revoked %+v, want kw", revoked)
	}
	wantRevoked(t, ctx, s, "kw", true)
	wantRevoked(t, ctx, s, "kp", false)
	if gs, _ := s.ListTenantGrants(ctx, "o1", "bob"); len(gs) != 0 {
		t.Errorf("grants of a deleted tenant stay: %+v", gs)
	}
	// Deleting the user who made a workspace key leaves it with its tenant.
	ws2 := newKey("kw5", "t2", "deploy", 47)
	ws2.OrgID, ws2.TenantID, ws2.CreatedBy = "o1", "t2", "bob"
	must(t, s.CreateAPIKey(ctx, ws2), "workspace key in t2")
	_, err = s.DeleteUser(ctx, "bob")
	must(t, err, "DeleteUser bob")
	wantRevoked(t, ctx, s, "kw5", false)
	_, err = s.GetAPIKey(ctx, "kp")
	wantErr(t, err, storage.ErrNotFound, "bob's personal org key after his deletion")
	_, err = s.GetMembership(ctx, "o1", "bob")
	wantErr(t, err, storage.ErrNotFound, "bob's membership after his deletion")
	// The last owner cannot be deleted.
	_, err = s.DeleteUser(ctx, "alice")
	wantErr(t, err, storage.ErrLastOwner, "deleting the last owner")
	if _, err := s.GetUser(ctx, "alice"); err != nil {
		t.Errorf("the refused deletion removed alice: %v", err)
	}
}

func testOrgInvitations(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	digest := bytes.Repeat([]byte{7}, 32)
	inv := &storage.Invitation{ID: "i1", OrgID: "o1", Email: "carol@example.test", Role: "admin", Digest: digest, PepperVersion: 1, InvitedBy: "alice", ExpiresAt: future()}
	must(t, s.CreateInvitation(ctx, inv), "CreateInvitation")
	wantErr(t, s.CreateInvitation(ctx, &storage.Invitation{ID: "i2", OrgID: "nope", Role: "member", Digest: bytes.Repeat([]byte{8}, 32), InvitedBy: "alice", ExpiresAt: future()}), storage.ErrNotFound, "an invitation to a missing org")
	expired := &storage.Invitation{ID: "i3", OrgID: "o1", Role: "member", Digest: bytes.Repeat([]byte{9}, 32), InvitedBy: "alice", ExpiresAt: past()}
	must(t, s.CreateInvitation(ctx, expired), "expired invitation")
	pending, err := s.ListInvitations(ctx, "o1", time.Now())
	must(t, err, "ListInvitations")
	if len(pending) != 1 || pending[0].ID != "i1" {
		t.Errorf("pending = %+v, want i1 only", pending)
	}
	_, err = s.AcceptInvitation(ctx, bytes.Repeat([]byte{1}, 32), "carol", time.Now())
	wantErr(t, err, storage.ErrNotFound, "an unknown invitation")
	got, err := s.AcceptInvitation(ctx, expired.Digest, "carol", time.Now())
	wantErr(t, err, storage.ErrInactive, "an expired invitation")
	if got == nil || got.ID != "i3" {
		t.Errorf("expired invitation returned %+v, want i3 with ErrInactive", got)
	}
	_, err = s.AcceptInvitation(ctx, digest, "bob", time.Now())
	wantErr(t, err, storage.ErrConflict, "accepting as a member")
	// Concurrent acceptance by two people: one wins.
	haveUsers(t, ctx, s, "dave")
	errs := runConcurrently(2, func(i int) error {
		_, err := s.AcceptInvitation(ctx, digest, []string{"carol", "dave"}[i], time.Now())
		return err
	})
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, storage.ErrInactive) {
			t.Errorf("concurrent accept: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent acceptances won, want 1", wins)
	}
	members, _ := s.ListMembers(ctx, "o1")
	if len(members) != 3 {
		t.Errorf("members after acceptance = %+v, want 3", members)
	}
	used, err := s.GetInvitationByDigest(ctx, digest)
	must(t, err, "GetInvitationByDigest")
	if used.AcceptedAt == nil || used.AcceptedBy == "" || used.Role != "admin" {
		t.Errorf("used invitation = %+v", used)
	}
	if p, _ := s.ListInvitations(ctx, "o1", time.Now()); len(p) != 0 {
		t.Errorf("pending after acceptance = %+v", p)
	}
	must(t, s.CreateInvitation(ctx, &storage.Invitation{ID: "i4", OrgID: "o1", Role: "member", Digest: bytes.Repeat([]byte{10}, 32), InvitedBy: "alice", ExpiresAt: future()}), "i4")
	wantErr(t, s.DeleteInvitation(ctx, "o2", "i4"), storage.ErrNotFound, "deleting through another org")
	must(t, s.DeleteInvitation(ctx, "o1", "i4"), "DeleteInvitation")
	wantErr(t, s.DeleteInvitation(ctx, "o1", "i4"), storage.ErrNotFound, "deleting twice")
}

func testOrgEventsDelete(t *testing.T, ctx context.Context, s storage.Store) {
	orgFixture(t, ctx, s)
	for i, typ := range []string{"org.created", "member.joined", "tenant.created"} {
		must(t, s.AddOrgEvent(ctx, &storage.OrgEvent{OrgID: "o1", ActorID: "alice", Type: typ, Target: "x", At: time.Now().Add(time.Duration(i) * time.Second)}), "AddOrgEvent")
	}
	must(t, s.AddOrgEvent(ctx, &storage.OrgEvent{OrgID: "o2", Type: "org.created"}), "AddOrgEvent o2")
	evs, err := s.ListOrgEvents(ctx, "o1", 0, 2)
	must(t, err, "ListOrgEvents")
	if len(evs) != 2 || evs[0].Type != "tenant.created" || evs[1].Type != "member.joined" {
		t.Fatalf("ListOrgEvents = %+v", evs)
	}
	older, err := s.ListOrgEvents(ctx, "o1", evs[1].ID, 10)
	must(t, err, "ListOrgEvents before")
	if len(older) != 1 || older[0].Type != "org.created" {
		t.Errorf("older events = %+v", older)
	}
	c := newClient("app", "alice")
	c.OrgID = "o1"
	must(t, s.CreateClient(ctx, c), "org client")
	cs, err := s.ListOrgClients(ctx, "o1")
	must(t, err, "ListOrgClients")
	if len(cs) != 1 || cs[0].ID != "app" {
		t.Errorf("ListOrgClients = %+v", cs)
	}
	_, err = s.DeleteOrg(ctx, "o1")
	wantErr(t, err, storage.ErrConflict, "deleting an org that owns apps")
	must(t, s.DeleteClient(ctx, "app"), "DeleteClient")
	k := newKey("k-org", "bob", "org", 50)
	k.OrgID = "o1"
	must(t, s.CreateAPIKey(ctx, k), "org key")
	revoked, err := s.DeleteOrg(ctx, "o1")
	must(t, err, "DeleteOrg")
	if len(revoked) != 1 || revoked[0].ID != "k-org" {
		t.Errorf("DeleteOrg revoked %+v", revoked)
	}
	_, err = s.GetOrg(ctx, "o1")
	wantErr(t, err, storage.ErrNotFound, "deleted org")
	if ms, _ := s.ListMembers(ctx, "o1"); len(ms) != 0 {
		t.Errorf("members of a deleted org: %+v", ms)
	}
	if ts, _ := s.ListTenants(ctx, "o1"); len(ts) != 0 {
		t.Errorf("tenants of a deleted org: %+v", ts)
	}
	if evs, _ := s.ListOrgEvents(ctx, "o1", 0, 10); len(evs) != 3 {
		t.Errorf("the audit log of a deleted org has %d entries, want 3 kept", len(evs))
	}
	if ts, _ := s.ListTenants(ctx, "o2"); len(ts) != 1 {
		t.Errorf("deleting o1 touched o2: %+v", ts)
	}
}

func testUserSuspend(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "alice")
	at := time.Now().UTC().Truncate(time.Second)
	must(t, s.SetUserSuspended(ctx, "alice", &at), "suspend")
	u, err := s.GetUser(ctx, "alice")
	must(t, err, "GetUser")
	if u.SuspendedAt == nil || !sameTime(*u.SuspendedAt, at) {
		t.Errorf("SuspendedAt = %v, want %v (read through the cache too)", u.SuspendedAt, at)
	}
	must(t, s.SetUserSuspended(ctx, "alice", nil), "reinstate")
	if u, _ = s.GetUser(ctx, "alice"); u.SuspendedAt != nil {
		t.Errorf("SuspendedAt after reinstating = %v", u.SuspendedAt)
	}
	wantErr(t, s.SetUserSuspended(ctx, "nobody", &at), storage.ErrNotFound, "suspending a missing user")
}
