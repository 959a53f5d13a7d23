package orgs

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

type fixture struct {
	s   *Service
	db  *storage.DB
	now time.Time
	org string
	t1  string
	t2  string
}

var (
	alice = Actor{UserID: "alice", IP: "192.0.2.1"} // owner
	bob   = Actor{UserID: "bob"}                    // member, read-only on t1
	carol = Actor{UserID: "carol"}                  // not a member
	dave  = Actor{UserID: "dave"}                   // viewer
	erin  = Actor{UserID: "erin"}                   // admin
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "o.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if err := db.CreateUser(ctx, &storage.User{ID: id, Username: id, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{5}, 32)})
	f := &fixture{db: db, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	// A long TTL: only invalidations may refresh the caches in these tests.
	f.s = New(Config{Hasher: h, CacheTTL: time.Hour, Tiers: []string{"free", "pro"}, Now: func() time.Time { return f.now }}, db)
	db.OnChange(f.s.Invalidate)
	o, err := f.s.Create(ctx, alice, "Acme")
	must(t, err)
	f.org = o.ID
	for _, m := range []struct {
		a    Actor
		role Role
	}{{bob, Member}, {dave, Viewer}, {erin, Admin}} {
		_, tok, err := f.s.Invite(ctx, alice, f.org, "", m.role)
		must(t, err)
		_, err = f.s.Accept(ctx, m.a, tok)
		must(t, err)
	}
	t1, err := f.s.CreateTenant(ctx, alice, f.org, "prod")
	must(t, err)
	t2, err := f.s.CreateTenant(ctx, erin, f.org, "staging")
	must(t, err)
	f.t1, f.t2 = t1.ID, t2.ID
	must(t, f.s.Grant(ctx, alice, f.org, f.t1, "bob", ReadOnly))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tenants(r *Rights) map[string]Access {
	out := map[string]Access{}
	for _, t := range r.Tenants {
		out[t.ID] = t.Role
	}
	return out
}

func TestMemberRightsByRole(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		who  string
		want map[string]Access
		role Role
	}{
		{"owner reaches every tenant", "alice", map[string]Access{f.t1: ReadWrite, f.t2: ReadWrite}, Owner},
		{"admin reaches every tenant", "erin", map[string]Access{f.t1: ReadWrite, f.t2: ReadWrite}, Admin},
		{"viewer reads every tenant", "dave", map[string]Access{f.t1: ReadOnly, f.t2: ReadOnly}, Viewer},
		{"member reaches the granted tenant", "bob", map[string]Access{f.t1: ReadOnly}, Member},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.s.MemberRights(ctx, f.org, tc.who)
			must(t, err)
			if r.Org.Role != tc.role || !mapsEqual(tenants(r), tc.want) {
				t.Errorf("rights = %+v %v, want %s %v", r.Org, tenants(r), tc.role, tc.want)
			}
		})
	}
	_, err := f.s.MemberRights(ctx, f.org, "carol")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("a non-member's rights: %v, want ErrNotFound", err)
	}
}

func mapsEqual(a, b map[string]Access) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A personal key follows its owner's rights as they are at each request:
// granted, upgraded, revoked and removed, with a cache that only
// invalidations refresh (TTL of an hour).
func TestPersonalKeyFollowsOwner(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := &storage.APIKey{ID: "k1", UserID: "bob", OrgID: f.org, Scopes: []string{"videos:read", "videos:write", "org:admin"}}
	step := func(what string, want map[string]Access, wantErr error) {
		t.Helper()
		r, err := f.s.KeyRights(ctx, k)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("%s: KeyRights err = %v, want %v", what, err, wantErr)
			}
			return
		}
		must(t, err)
		if !mapsEqual(tenants(r), want) || r.Kind != KindPersonal {
			t.Fatalf("%s: tenants = %v (%s), want %v", what, tenants(r), r.Kind, want)
		}
		if slices.Contains(r.Scopes, ScopeOrgAdmin) != r.Org.Role.IsAdmin() {
			t.Fatalf("%s: scopes %v for role %s", what, r.Scopes, r.Org.Role)
		}
	}
	step("granted read-only", map[string]Access{f.t1: ReadOnly}, nil)
	must(t, f.s.Grant(ctx, alice, f.org, f.t2, "bob", ReadWrite))
	step("granted t2", map[string]Access{f.t1: ReadOnly, f.t2: ReadWrite}, nil)
	must(t, f.s.SetRole(ctx, alice, f.org, "bob", Admin))
	step("promoted to admin", map[string]Access{f.t1: ReadWrite, f.t2: ReadWrite}, nil)
	must(t, f.s.SetRole(ctx, alice, f.org, "bob", Member))
	must(t, f.s.Ungrant(ctx, alice, f.org, f.t2, "bob"))
	step("t2 revoked", map[string]Access{f.t1: ReadOnly}, nil)
	k.Tenants = []string{f.t2}
	step("narrowed to a tenant he cannot reach", map[string]Access{}, nil)
	k.Tenants = nil
	k.Scopes = []string{"videos:read"}
	must(t, f.s.Grant(ctx, alice, f.org, f.t1, "bob", ReadWrite))
	step("a read-only key caps read-write access", map[string]Access{f.t1: ReadOnly}, nil)
	must(t, f.s.Remove(ctx, erin, f.org, "bob"))
	step("removed", nil, ErrNotMember)
}

func TestWorkspaceKeySurvivesMembers(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	k := &storage.APIKey{ID: "kw", UserID: f.t1, TenantID: f.t1, OrgID: f.org, CreatedBy: "bob", Scopes: []string{"videos:read", "videos:write", "org:admin"}}
	r, err := f.s.KeyRights(ctx, k)
	must(t, err)
	if r.Kind != KindWorkspace || r.Org.Role != "" || !mapsEqual(tenants(r), map[string]Access{f.t1: ReadWrite}) || slices.Contains(r.Scopes, ScopeOrgAdmin) {
		t.Fatalf("workspace key rights = %+v", r)
	}
	must(t, f.s.Remove(ctx, alice, f.org, "bob"))
	if _, err := f.s.KeyRights(ctx, k); err != nil {
		t.Errorf("the maker's removal stopped a workspace key: %v", err)
	}
	_, err = f.s.DeleteTenant(ctx, erin, f.org, f.t1)
	must(t, err)
	if _, err := f.s.KeyRights(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted tenant's key: %v, want ErrNotFound", err)
	}
}

func TestSuspension(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	personal := &storage.APIKey{ID: "k", UserID: "bob", OrgID: f.org}
	outside := &storage.APIKey{ID: "k2", UserID: "bob", Scopes: []string{"users:read"}}
	ws := &storage.APIKey{ID: "kw", UserID: f.t1, TenantID: f.t1, OrgID: f.org}
	_, err := f.s.SuspendOrg(ctx, Actor{UserID: "root"}, f.org, true)
	must(t, err)
	for _, k := range []*storage.APIKey{personal, ws} {
		if _, err := f.s.KeyRights(ctx, k); !errors.Is(err, ErrSuspended) {
			t.Errorf("key %s of a suspended org: %v, want ErrSuspended", k.ID, err)
		}
	}
	if r, err := f.s.KeyRights(ctx, outside); err != nil || len(r.Tenants) != 1 || r.Tenants[0].Role != ReadOnly || r.Org != nil {
		t.Errorf("bob's own-workspace key while his org is suspended: %+v, %v", r, err)
	}
	_, err = f.s.SuspendOrg(ctx, Actor{UserID: "root"}, f.org, false)
	must(t, err)
	must(t, f.s.SuspendUser(ctx, "bob", true))
	for _, k := range []*storage.APIKey{personal, outside} {
		if _, err := f.s.KeyRights(ctx, k); !errors.Is(err, ErrSuspended) {
			t.Errorf("key %s of a suspended user: %v, want ErrSuspended", k.ID, err)
		}
	}
	if _, err := f.s.KeyRights(ctx, ws); err != nil {
		t.Errorf("a workspace key while its maker is suspended: %v", err)
	}
}

func TestOwnerRules(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var re *RoleError
	if err := f.s.SetRole(ctx, erin, f.org, "alice", Member); !errors.As(err, &re) || re.Need != "owner" {
		t.Errorf("an admin demoting the owner: %v", err)
	}
	if err := f.s.SetRole(ctx, erin, f.org, "bob", Owner); !errors.As(err, &re) || re.Need != "owner" {
		t.Errorf("an admin making an owner: %v", err)
	}
	if err := f.s.Remove(ctx, erin, f.org, "alice"); !errors.As(err, &re) || re.Need != "owner" {
		t.Errorf("an admin removing the owner: %v", err)
	}
	if err := f.s.Remove(ctx, bob, f.org, "dave"); !errors.As(err, &re) || re.Need != "admin" {
		t.Errorf("a member removing a member: %v", err)
	}
	if err := f.s.Leave(ctx, alice, f.org); !errors.Is(err, ErrLastOwner) || !errors.Is(err, ErrConflict) {
		t.Errorf("the last owner leaving: %v", err)
	}
	if err := f.s.SetRole(ctx, alice, f.org, "alice", Admin); !errors.Is(err, ErrLastOwner) {
		t.Errorf("the last owner demoting herself: %v", err)
	}
	if _, _, err := f.s.Invite(ctx, erin, f.org, "", Owner); !errors.As(err, &re) || re.Need != "owner" {
		t.Errorf("an admin inviting an owner: %v", err)
	}
	must(t, f.s.Transfer(ctx, alice, f.org, "erin"))
	if r, _ := f.s.MemberRights(ctx, f.org, "alice"); r.Org.Role != Admin {
		t.Errorf("after transfer alice is %s", r.Org.Role)
	}
	must(t, f.s.Leave(ctx, alice, f.org))
	if _, err := f.s.Get(ctx, alice, f.org); !errors.Is(err, ErrNotFound) {
		t.Errorf("a former member sees the org: %v", err)
	}
	if _, err := f.s.Get(ctx, carol, f.org); !errors.Is(err, ErrNotFound) {
		t.Errorf("a stranger sees the org: %v", err)
	}
}

func TestInvitationLink(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	inv, tok, err := f.s.Invite(ctx, erin, f.org, "carol@example.com", Member)
	must(t, err)
	if bytes.Contains(inv.Digest, []byte(tok)) || len(tok) < 40 {
		t.Fatalf("token %q / digest", tok)
	}
	p, err := f.s.Peek(ctx, tok)
	must(t, err)
	if p.Org.Name != "Acme" || p.InvitedBy != "erin" || p.Invitation.Email != "carol@example.com" {
		t.Errorf("Peek = %+v", p)
	}
	for _, bad := range []string{"", "lki_", "nonsense", tok + "x", "lki_" + string(make([]byte, 200))} {
		if _, err := f.s.Accept(ctx, carol, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Accept(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := f.s.Accept(ctx, bob, tok); !errors.Is(err, ErrConflict) {
		t.Errorf("a member accepting: %v, want ErrConflict", err)
	}
	_, err = f.s.Accept(ctx, carol, tok)
	must(t, err)
	if _, err := f.s.Accept(ctx, carol, tok); !errors.Is(err, ErrGone) {
		t.Errorf("a second acceptance: %v, want ErrGone", err)
	}
	_, late, err := f.s.Invite(ctx, erin, f.org, "", Viewer)
	must(t, err)
	f.now = f.now.Add(8 * 24 * time.Hour)
	if _, err := f.s.Peek(ctx, late); !errors.Is(err, ErrGone) {
		t.Errorf("an expired invitation: %v, want ErrGone", err)
	}
	if _, _, err := f.s.Invite(ctx, erin, f.org, "not an address", Member); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad address: %v", err)
	}
	evs, err := f.s.Audit(ctx, alice, f.org, 0, 100)
	must(t, err)
	types := []string{}
	for _, e := range evs {
		types = append(types, e.Type)
	}
	for _, want := range []string{"org.created", "member.invited", "member.joined", "tenant.created", "tenant.granted"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit log %v lacks %s", types, want)
		}
	}
	if _, err := f.s.Audit(ctx, bob, f.org, 0, 10); !errors.Is(err, ErrForbidden) {
		t.Errorf("a member reading the audit log: %v", err)
	}
}

func TestCheckTable(t *testing.T) {
	for _, a := range Actions {
		if MinRole(a) == "" {
			t.Errorf("action %s has no role in the table", a)
		}
		for _, r := range Roles {
			err := Check(r, a)
			if (err == nil) != r.AtLeast(MinRole(a)) {
				t.Errorf("Check(%s, %s) = %v", r, a, err)
			}
		}
		if Check("", a) == nil || Check("root", a) == nil {
			t.Errorf("an unknown role may %s", a)
		}
	}
	if err := CheckWorkspaceKey(Member, ReadOnly, "t"); !errors.Is(err, ErrForbidden) {
		t.Errorf("a read-only member managing workspace keys: %v", err)
	}
	if err := CheckWorkspaceKey(Member, ReadWrite, "t"); err != nil {
		t.Errorf("a read-write member managing workspace keys: %v", err)
	}
	if err := CheckWorkspaceKey(Viewer, ReadWrite, "t"); err == nil {
		t.Error("a viewer may manage workspace keys")
	}
	_ = context.Background
}
