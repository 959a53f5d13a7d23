package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// orgFixture is the organization pages over SQLite and the real
// orgs.Service, mounted as the server mounts them (CSRF on every form):
// alice owns Acme (tenant prod), bob is a member there, erin an admin;
// carol owns Other (tenant theirs) and is not in Acme.
type orgFixture struct {
	*accountFixture
	svc                     *orgs.Service
	users                   map[string]*storage.User
	acme, prod, other, tOth string
}

func newOrgFixture(t *testing.T) *orgFixture {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "orgs.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := t.Context()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hasher, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{7}, 32)})
	svc := orgs.New(orgs.Config{Hasher: hasher}, db)
	db.OnChange(svc.Invalidate)
	key := func(b byte) []byte { return bytes.Repeat([]byte{'a' + b}, 32) }
	ks := keys.New(keys.Config{Format: keys.NewFormat("lk"), Hasher: hasher, Scopes: []string{"keys:read", "keys:write", "users:read", "org:read", "org:admin"}}, db)
	h, err := New(Config{CookieHashKey: key(0), CookieBlockKey: key(1), CSRFKey: key(2), Orgs: svc, Keys: ks, OrgKeys: ks, OrgApps: db, Logger: slog.New(slog.DiscardHandler)}, nil, db)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	pages := e.Group("/", h.CSRF())
	pages.GET("/login", h.LoginForm)
	pages.POST("/login", h.Login)
	user := pages.Group("/", h.RequireUser())
	user.GET("/account", h.Account)
	user.GET("/orgs", h.OrgsPage)
	user.POST("/orgs", h.CreateOrgForm)
	user.GET("/orgs/:id", h.OrgPage)
	user.POST("/orgs/:id/rename", h.RenameOrgForm)
	user.POST("/orgs/:id/delete", h.DeleteOrgForm)
	user.POST("/orgs/:id/leave", h.LeaveOrgForm)
	user.GET("/orgs/:id/members", h.MembersPage)
	user.POST("/orgs/:id/members/:user/role", h.SetRoleForm)
	user.POST("/orgs/:id/members/:user/remove", h.RemoveMemberForm)
	user.POST("/orgs/:id/transfer", h.TransferForm)
	user.POST("/orgs/:id/invitations", h.InviteForm)
	user.POST("/orgs/:id/invitations/:inv/cancel", h.CancelInvitationForm)
	user.GET("/orgs/:id/tenants", h.TenantsPage)
	user.POST("/orgs/:id/tenants", h.CreateTenantForm)
	user.GET("/orgs/:id/tenants/:tid", h.TenantPage)
	user.POST("/orgs/:id/tenants/:tid/rename", h.RenameTenantForm)
	user.POST("/orgs/:id/tenants/:tid/delete", h.DeleteTenantForm)
	user.POST("/orgs/:id/tenants/:tid/grants", h.GrantForm)
	user.POST("/orgs/:id/tenants/:tid/grants/:user/revoke", h.RevokeGrantForm)
	user.GET("/orgs/:id/audit", h.AuditPage)
	user.GET("/orgs/:id/keys", h.OrgKeysPage)
	user.GET("/orgs/:id/apps", h.OrgAppsPage)
	user.POST("/orgs/:id/keys", h.CreateOrgKeyForm)
	user.POST("/orgs/:id/keys/:key/revoke", h.RevokeOrgKeyForm)
	pages.GET("/invitations/:token", h.InvitationPage)
	pages.POST("/invitations/:token", h.AcceptInvitationForm)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	f := &orgFixture{accountFixture: &accountFixture{h: h, db: db, srv: srv}, svc: svc, users: map[string]*storage.User{}}
	for _, n := range []string{"alice", "bob", "carol", "erin"} {
		u, err := accounts.New(db, accounts.Config{}).Create(ctx, accounts.NewUser{Username: n, Email: n + "@example.com", Password: acctPassword})
		if err != nil {
			t.Fatal(err)
		}
		f.users[n] = u
	}
	as := func(n string) orgs.Actor { return orgs.Actor{UserID: f.users[n].ID} }
	o, err := svc.Create(ctx, as("alice"), "Acme")
	must(t, err)
	f.acme = o.ID
	for n, r := range map[string]orgs.Role{"bob": orgs.Member, "erin": orgs.Admin} {
		_, tok, err := svc.Invite(ctx, as("alice"), f.acme, "", r)
		must(t, err)
		_, err = svc.Accept(ctx, as(n), tok)
		must(t, err)
	}
	tn, err := svc.CreateTenant(ctx, as("alice"), f.acme, "prod")
	must(t, err)
	f.prod = tn.ID
	o2, err := svc.Create(ctx, as("carol"), "Other")
	must(t, err)
	f.other = o2.ID
	t2, err := svc.CreateTenant(ctx, as("carol"), f.other, "theirs")
	must(t, err)
	f.tOth = t2.ID
	must(t, db.CreateClient(ctx, &storage.Client{ID: "app-acme", Name: "Acme <Dash>", OwnerID: f.users["erin"].ID, OrgID: f.acme, RedirectURIs: []string{"https://a.example/cb"}}))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// as returns a browser signed in as the named person.
func (f *orgFixture) as(t *testing.T, name string) *browser {
	t.Helper()
	b := f.browser(t)
	if !b.login(name, acctPassword) {
		t.Fatalf("%s cannot sign in", name)
	}
	return b
}

func (f *orgFixture) role(t *testing.T, orgID, name string) string {
	t.Helper()
	m, err := f.db.GetMembership(t.Context(), orgID, f.users[name].ID)
	if err != nil {
		return ""
	}
	return m.Role
}

// expand replaces {acme}, {prod}, {other}, {theirs} and {name} (a user id).
func (f *orgFixture) expand(s string) string {
	r := []string{"{acme}", f.acme, "{prod}", f.prod, "{other}", f.other, "{theirs}", f.tOth}
	for n, u := range f.users {
		r = append(r, "{"+n+"}", u.ID)
	}
	return strings.NewReplacer(r...).Replace(s)
}

func TestOrgPagesByRole(t *testing.T) {
	f := newOrgFixture(t)
	tests := []struct {
		who, path string
		status    int
		want      []string
		not       []string
	}{
		{"alice", "/orgs", 200, []string{`href="/orgs/{acme}">Acme</a>`, "Your role: owner", `action="/orgs"`}, []string{"Other"}},
		{"alice", "/orgs/{acme}", 200, []string{"/rename", `action="/orgs/{acme}/delete"`, `<summary><span class="visually-hidden">Organization: </span>Acme</summary>`}, nil},
		{"alice", "/orgs/{acme}/members", 200, []string{"bob", "erin", `action="/orgs/{acme}/members/{bob}/role"`, `action="/orgs/{acme}/invitations"`, `<option value="owner">`}, nil},
		{"erin", "/orgs/{acme}/members", 200, []string{`action="/orgs/{acme}/members/{bob}/role"`}, []string{`action="/orgs/{acme}/members/{alice}/role"`, `<option value="owner">`, `action="/orgs/{acme}/transfer"`}},
		{"bob", "/orgs/{acme}/members", 200, []string{"alice"}, []string{`action="/orgs/{acme}/members/`, "Pending invitations"}},
		{"alice", "/orgs/{acme}/tenants", 200, []string{`href="/orgs/{acme}/tenants/{prod}">prod</a>`, "Access: read-write"}, nil},
		{"bob", "/orgs/{acme}/tenants", 200, []string{"You do not reach any tenant yet."}, []string{"{prod}"}},
		{"alice", "/orgs/{acme}/tenants/{prod}", 200, []string{`<option value="{bob}">bob (member)</option>`}, []string{`value="{erin}"`}},
		{"bob", "/orgs/{acme}/tenants/{prod}", 404, nil, nil}, // bob reaches no tenant
		{"alice", "/orgs/{acme}/audit", 200, []string{"org.created", "member.joined", "tenant.created"}, nil},
		{"bob", "/orgs/{acme}/audit", 403, []string{"This action needs the admin role in this organization."}, nil},
		{"bob", "/orgs/{acme}", 200, []string{`action="/orgs/{acme}/leave"`}, []string{"/rename", "/delete", "Audit log"}},
		// Another organization's ids look missing.
		{"carol", "/orgs/{acme}", 404, nil, []string{"Acme"}},
		{"carol", "/orgs/{acme}/members", 404, nil, nil},
		{"alice", "/orgs/{other}/tenants", 404, nil, nil},
		{"alice", "/orgs/{acme}/tenants/{theirs}", 404, nil, nil},
		{"alice", "/orgs/org_nope", 404, nil, nil},
		{"alice", "/orgs/{acme}/audit?before=x", 400, nil, nil},
		{"alice", "/account", 200, []string{"Personal workspace", `In <a href="/orgs/{acme}">Acme</a> (you are owner) · access: read-write`, `<code id="copy-{prod}" class="select-all">{prod}</code>`}, []string{"theirs"}},
		{"erin", "/orgs/{acme}/apps", 200, []string{`<a href="/apps/app-acme">Acme &lt;Dash&gt;</a>`, "registered by erin"}, nil},
		{"alice", "/orgs/{acme}/apps", 200, []string{"Acme &lt;Dash&gt;", "registered by erin"}, []string{`href="/apps/app-acme"`}},
		{"carol", "/orgs/{acme}/apps", 404, nil, []string{"Dash"}},
		{"carol", "/orgs/{other}/apps", 200, []string{"No apps you can see"}, nil},
		{"carol", "/account", 200, []string{"theirs"}, []string{"{prod}"}},
	}
	browsers := map[string]*browser{}
	for _, tc := range tests {
		t.Run(tc.who+" "+tc.path, func(t *testing.T) {
			b := browsers[tc.who]
			if b == nil {
				b = f.as(t, tc.who)
				browsers[tc.who] = b
			}
			status, body := b.get(f.expand(tc.path))
			if status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", status, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, f.expand(w)) {
					t.Errorf("lacks %q", f.expand(w))
				}
			}
			for _, n := range tc.not {
				if strings.Contains(body, f.expand(n)) {
					t.Errorf("contains %q", f.expand(n))
				}
			}
		})
	}
	anon := f.browser(t)
	resp, err := anon.c.Get(f.srv.URL + "/orgs/" + f.acme)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("anonymous /orgs/{id}: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestOrgForms(t *testing.T) {
	type step struct {
		who, path string
		form      url.Values
		noCSRF    bool
		status    int
		location  string   // a 303's target, after expand
		want      []string // in the body, or in the page a 303 leads to
		// run, when set, replaces the request: a change behind the pages.
		run func(t *testing.T, f *orgFixture)
	}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, f *orgFixture)
	}{
		{name: "CSRF missing changes nothing", steps: []step{
			{who: "alice", path: "/orgs/{acme}/members/{bob}/role", form: url.Values{"role": {"admin"}}, noCSRF: true, status: 403},
		}, check: func(t *testing.T, f *orgFixture) {
			if r := f.role(t, f.acme, "bob"); r != "member" {
				t.Errorf("bob is %q", r)
			}
		}},
		{name: "create an organization, empty name refused next to the field", steps: []step{
			{who: "bob", path: "/orgs", form: url.Values{"name": {"  "}}, status: 400, want: []string{`id="org-name-error">Name is required.</p>`}},
			{who: "bob", path: "/orgs", form: url.Values{"name": {"Bob's <org>"}}, status: 303, want: []string{"Bob&#39;s &lt;org&gt;", "You are its owner"}},
		}},
		{name: "rename by an admin, not by a member", steps: []step{
			{who: "bob", path: "/orgs/{acme}/rename", form: url.Values{"name": {"Hijacked"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/rename", form: url.Values{"name": {strings.Repeat("x", 101)}}, status: 400, want: []string{"at most 100 characters"}},
			{who: "erin", path: "/orgs/{acme}/rename", form: url.Values{"name": {"Acme Inc"}}, status: 303, location: "/orgs/{acme}", want: []string{"Renamed the organization to “Acme Inc”."}},
		}},
		{name: "a forged role is refused", steps: []step{
			{who: "alice", path: "/orgs/{acme}/members/{bob}/role", form: url.Values{"role": {"superuser"}}, status: 303, want: []string{"Choose one of the roles"}},
			{who: "erin", path: "/orgs/{acme}/members/{bob}/role", form: url.Values{"role": {"owner"}}, status: 403, want: []string{"needs the owner role"}},
			{who: "bob", path: "/orgs/{acme}/members/{erin}/role", form: url.Values{"role": {"viewer"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/members/{alice}/role", form: url.Values{"role": {"member"}}, status: 403},
		}, check: func(t *testing.T, f *orgFixture) {
			if f.role(t, f.acme, "bob") != "member" || f.role(t, f.acme, "alice") != "owner" || f.role(t, f.acme, "erin") != "admin" {
				t.Error("a refused role change changed a role")
			}
		}},
		{name: "the last owner can neither leave nor be demoted", steps: []step{
			{who: "alice", path: "/orgs/{acme}/leave", form: url.Values{}, status: 200, want: []string{"Leave Acme?", `name="confirm" value="yes"`}},
			{who: "alice", path: "/orgs/{acme}/leave", form: url.Values{"confirm": {"yes"}}, status: 303, location: "/orgs/{acme}", want: []string{"An organization needs at least one owner"}},
			{who: "alice", path: "/orgs/{acme}/members/{alice}/remove", form: url.Values{"confirm": {"yes"}}, status: 303, want: []string{"An organization needs at least one owner"}},
		}, check: func(t *testing.T, f *orgFixture) {
			if f.role(t, f.acme, "alice") != "owner" {
				t.Error("the last owner left")
			}
		}},
		{name: "remove asks first, then removes; another org's person is 404", steps: []step{
			{who: "erin", path: "/orgs/{acme}/members/{bob}/remove", form: url.Values{}, status: 200, want: []string{"Remove bob from Acme?"}},
			{who: "erin", path: "/orgs/{acme}/members/{carol}/remove", form: url.Values{"confirm": {"yes"}}, status: 404},
			{who: "erin", path: "/orgs/{acme}/members/{alice}/remove", form: url.Values{"confirm": {"yes"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/members/{bob}/remove", form: url.Values{"confirm": {"yes"}}, status: 303, want: []string{"Removed bob"}},
		}, check: func(t *testing.T, f *orgFixture) {
			if f.role(t, f.acme, "bob") != "" {
				t.Error("bob is still a member")
			}
		}},
		{name: "transfer ownership (owners only)", steps: []step{
			{who: "erin", path: "/orgs/{acme}/transfer", form: url.Values{"user_id": {"{bob}"}, "confirm": {"yes"}}, status: 403},
			{who: "alice", path: "/orgs/{acme}/transfer", form: url.Values{"user_id": {"{carol}"}, "confirm": {"yes"}}, status: 404},
			{who: "alice", path: "/orgs/{acme}/transfer", form: url.Values{"user_id": {"{bob}"}}, status: 200, want: []string{"Make bob an owner of Acme?", `name="user_id" value="{bob}"`}},
			{who: "alice", path: "/orgs/{acme}/transfer", form: url.Values{"user_id": {"{bob}"}, "confirm": {"yes"}}, status: 303, want: []string{"bob is now an owner; you are an admin."}},
		}, check: func(t *testing.T, f *orgFixture) {
			if f.role(t, f.acme, "bob") != "owner" || f.role(t, f.acme, "alice") != "admin" {
				t.Error("ownership not transferred")
			}
		}},
		{name: "invitations: link once, owner only by owners, bad address next to the field, cancel", steps: []step{
			{who: "erin", path: "/orgs/{acme}/invitations", form: url.Values{"role": {"owner"}}, status: 403, want: []string{`id="invite-role-error">Only an owner can invite an owner.</p>`}},
			{who: "erin", path: "/orgs/{acme}/invitations", form: url.Values{"role": {"member"}, "email": {"not an address"}}, status: 400, want: []string{`id="invite-email-error">Email must be a plain address`}},
			{who: "erin", path: "/orgs/{acme}/invitations", form: url.Values{"role": {"boss"}}, status: 400, want: []string{`id="invite-role-error">`}},
			{who: "bob", path: "/orgs/{acme}/invitations", form: url.Values{"role": {"member"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/invitations", form: url.Values{"role": {"viewer"}, "email": {"dan@example.com"}}, status: 201, want: []string{`id="invite-link" type="text" value="http://127.0.0.1:`, "/invitations/lki_", "dan@example.com"}},
		}, check: func(t *testing.T, f *orgFixture) {
			invs, err := f.db.ListInvitations(t.Context(), f.acme, time.Now())
			must(t, err)
			if len(invs) != 1 || invs[0].Role != "viewer" {
				t.Fatalf("invitations %+v", invs)
			}
			b := f.as(t, "erin")
			b.get("/orgs/" + f.acme + "/members")
			resp, _ := b.post("/orgs/"+f.acme+"/invitations/"+invs[0].ID+"/cancel", url.Values{})
			wantStatus(t, "cancel without confirm", resp.StatusCode, 200)
			resp, _ = b.post("/orgs/"+f.other+"/invitations/"+invs[0].ID+"/cancel", url.Values{"confirm": {"yes"}})
			wantStatus(t, "cancel in another org", resp.StatusCode, 404)
			resp, _ = b.post("/orgs/"+f.acme+"/invitations/"+invs[0].ID+"/cancel", url.Values{"confirm": {"yes"}})
			wantStatus(t, "cancel", resp.StatusCode, 303)
			if invs, _ := f.db.ListInvitations(t.Context(), f.acme, time.Now()); len(invs) != 0 {
				t.Error("invitation not cancelled")
			}
		}},
		{name: "tenants: create, duplicate, grant, forged member, revoke, delete", steps: []step{
			{who: "bob", path: "/orgs/{acme}/tenants", form: url.Values{"name": {"mine"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/tenants", form: url.Values{"name": {"prod"}}, status: 400, want: []string{`id="tenant-name-error">The organization already has a tenant with this name.</p>`}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/grants", form: url.Values{"user_id": {"{carol}"}, "role": {"read-only"}}, status: 400, want: []string{`id="grant-user-error">Choose a member of this organization.</p>`}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/grants", form: url.Values{"user_id": {"{bob}"}, "role": {"admin"}}, status: 400, want: []string{`id="grant-role-error">Choose read-only or read-write.</p>`}},
			{who: "erin", path: "/orgs/{acme}/tenants/{theirs}/grants", form: url.Values{"user_id": {"{bob}"}, "role": {"read-only"}}, status: 404},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/grants", form: url.Values{"user_id": {"{bob}"}, "role": {"read-write"}}, status: 303, want: []string{"Granted read-write access to “prod”.", `action="/orgs/{acme}/tenants/{prod}/grants/{bob}/revoke"`}},
			{who: "bob", path: "/orgs/{acme}/tenants/{prod}/grants/{bob}/revoke", form: url.Values{"confirm": {"yes"}}, status: 403},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/grants/{bob}/revoke", form: url.Values{}, status: 200, want: []string{"Revoke bob&#39;s access to prod?"}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/grants/{bob}/revoke", form: url.Values{"confirm": {"yes"}}, status: 303, want: []string{"Revoked bob&#39;s access", "No member has been granted this tenant."}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/rename", form: url.Values{"name": {""}}, status: 400, want: []string{`id="tenant-name-error">Name is required.</p>`}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/delete", form: url.Values{}, status: 200, want: []string{"Delete the tenant prod?"}},
			{who: "erin", path: "/orgs/{acme}/tenants/{prod}/delete", form: url.Values{"confirm": {"yes"}}, status: 303, want: []string{"Deleted the tenant “prod”; 0 workspace keys were revoked."}},
		}},
		{name: "delete an organization (owners only, confirmed)", steps: []step{
			{who: "erin", path: "/orgs/{acme}/delete", form: url.Values{"confirm": {"yes"}}, status: 403},
			{who: "alice", path: "/orgs/{acme}/delete", form: url.Values{}, status: 200, want: []string{"Delete Acme?"}},
			{who: "alice", path: "/orgs/{acme}/delete", form: url.Values{"confirm": {"yes"}}, status: 303, location: "/orgs/{acme}", want: []string{"The organization still owns apps. Delete its apps first."}},
			{run: func(t *testing.T, f *orgFixture) { must(t, f.db.DeleteClient(t.Context(), "app-acme")) }},
			{who: "alice", path: "/orgs/{acme}/delete", form: url.Values{"confirm": {"yes"}}, status: 303, location: "/orgs", want: []string{"Deleted “Acme”"}},
		}, check: func(t *testing.T, f *orgFixture) {
			if _, err := f.db.GetOrg(t.Context(), f.acme); err == nil {
				t.Error("Acme still exists")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newOrgFixture(t)
			browsers := map[string]*browser{}
			for i, s := range tc.steps {
				if s.run != nil {
					s.run(t, f)
					continue
				}
				b := browsers[s.who]
				if b == nil {
					b = f.as(t, s.who)
					browsers[s.who] = b
				}
				b.get("/orgs") // a fresh CSRF token
				form := url.Values{}
				for k, vs := range s.form {
					for _, v := range vs {
						form.Add(k, f.expand(v))
					}
				}
				if s.noCSRF {
					form.Set("csrf_token", "")
					b.csr = ""
				}
				resp, body := b.post(f.expand(s.path), form)
				if resp.StatusCode != s.status {
					t.Fatalf("step %d (%s %s): status %d, want %d:\n%s", i, s.who, s.path, resp.StatusCode, s.status, body)
				}
				if resp.StatusCode == http.StatusSeeOther {
					loc := resp.Header.Get("Location")
					if s.location != "" && loc != f.expand(s.location) {
						t.Errorf("step %d: redirect to %q, want %q", i, loc, f.expand(s.location))
					}
					_, body = b.get(loc)
				}
				for _, w := range s.want {
					if !strings.Contains(body, f.expand(w)) {
						t.Errorf("step %d (%s %s) lacks %q:\n%s", i, s.who, s.path, f.expand(w), body)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestInvitationPage(t *testing.T) {
	f := newOrgFixture(t)
	ctx := t.Context()
	_, tok, err := f.svc.Invite(ctx, orgs.Actor{UserID: f.users["alice"].ID}, f.acme, "carol@example.com", orgs.Viewer)
	must(t, err)
	path := InvitationPath(tok)

	anon := f.browser(t)
	status, body := anon.get(path)
	wantStatus(t, "anonymous invitation page", status, 200)
	for _, w := range []string{"Join Acme", "alice", "viewer", "carol@example.com", `href="/login?next=%2finvitations%2f` + tok + `"`, `href="/signup?next=%2finvitations%2f` + tok + `"`} {
		if !strings.Contains(body, w) {
			t.Errorf("anonymous page lacks %q", w)
		}
	}
	anon.get("/login") // a CSRF token: the page itself has no form for a signed-out person
	resp, _ := anon.post(path, url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
		t.Errorf("anonymous accept: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Signing in comes back to the invitation (safeNext keeps the path).
	anon.get("/login?next=" + url.QueryEscape(path))
	resp, _ = anon.post("/login", url.Values{"username": {"carol"}, "password": {acctPassword}, "next": {path}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		t.Fatalf("login with next: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	carol := anon
	status, body = carol.get(path)
	wantStatus(t, "signed-in invitation page", status, 200)
	if !strings.Contains(body, `<form method="post" action="`+path+`">`) {
		t.Fatalf("no accept form:\n%s", body)
	}
	// Without the CSRF token nothing happens.
	csr := carol.csr
	carol.csr = ""
	resp, _ = carol.post(path, url.Values{})
	wantStatus(t, "accept without CSRF", resp.StatusCode, 403)
	if f.role(t, f.acme, "carol") != "" {
		t.Fatal("joined without CSRF")
	}
	carol.csr = csr
	resp, _ = carol.post(path, url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/"+f.acme {
		t.Fatalf("accept: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if f.role(t, f.acme, "carol") != "viewer" {
		t.Fatal("carol did not join as viewer")
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{path, http.StatusGone},                            // used
		{"/invitations/lki_nope", http.StatusNotFound},     // unknown
		{"/invitations/garbage", http.StatusNotFound},      // not a token
		{"/invitations/" + tok + "x", http.StatusNotFound}, // altered
	} {
		status, _ := carol.get(tc.path)
		wantStatus(t, tc.path, status, tc.status)
	}
	// An invitation for someone already in the organization.
	_, tok2, err := f.svc.Invite(ctx, orgs.Actor{UserID: f.users["alice"].ID}, f.acme, "", orgs.Member)
	must(t, err)
	bob := f.as(t, "bob")
	bob.get(InvitationPath(tok2))
	resp, body = bob.post(InvitationPath(tok2), url.Values{})
	wantStatus(t, "accept as a member", resp.StatusCode, http.StatusConflict)
	if !strings.Contains(body, "already a member") {
		t.Errorf("conflict page:\n%s", body)
	}
}

func TestOrgKeys(t *testing.T) {
	f := newOrgFixture(t)
	ctx := t.Context()
	mustNo := func(b *browser, path string, form url.Values, status int, wants ...string) string {
		t.Helper()
		b.get("/orgs")
		for k, vs := range form {
			for i := range vs {
				vs[i] = f.expand(vs[i])
			}
			form[k] = vs
		}
		resp, body := b.post(f.expand(path), form)
		if resp.StatusCode != status {
			t.Fatalf("%s: status %d, want %d:\n%s", path, resp.StatusCode, status, body)
		}
		for _, w := range wants {
			if !strings.Contains(body, f.expand(w)) {
				t.Errorf("%s lacks %q", path, f.expand(w))
			}
		}
		return body
	}
	bob, erin, alice, carol := f.as(t, "bob"), f.as(t, "erin"), f.as(t, "alice"), f.as(t, "carol")
	_, body := bob.get("/orgs/" + f.acme + "/keys")
	if strings.Contains(body, `value="workspace"`) {
		t.Error("bob (no read-write tenant) is offered workspace keys")
	}
	mustNo(bob, "/orgs/{acme}/keys", url.Values{"handle": {"bobs"}, "kind": {"personal"}, "preset": {"read-write"}, "expires": {"never"}}, 201,
		`<input id="new-key" type="text" value="lk_live_`, `href="/orgs/{acme}/keys">Done</a>`)
	mustNo(bob, "/orgs/{acme}/keys", url.Values{"handle": {"ws"}, "kind": {"workspace"}, "tenant_id": {"{prod}"}, "preset": {"read-only"}, "expires": {"never"}}, 400,
		`id="org-key-tenant-error">Choose a tenant you reach.</p>`, `aria-describedby="org-key-tenant-error"`)
	mustNo(bob, "/orgs/{acme}/keys", url.Values{"handle": {"narrow"}, "kind": {"personal"}, "tenants": {"{theirs}"}, "preset": {"read-only"}, "expires": {"never"}}, 400,
		`id="org-key-tenants-error">Choose among the tenants you reach.</p>`)
	mustNo(bob, "/orgs/{acme}/keys", url.Values{"handle": {"x"}, "kind": {"owner"}, "preset": {"all"}, "expires": {"forever"}}, 400,
		`id="org-key-kind-error">`, `id="org-key-preset-error">`, "Choose when the key expires.")
	mustNo(erin, "/orgs/{acme}/keys", url.Values{"handle": {"deploy"}, "kind": {"workspace"}, "tenant_id": {"{prod}"}, "preset": {"read-only"}, "expires": {"30d"}}, 201)
	mustNo(carol, "/orgs/{acme}/keys", url.Values{"handle": {"sneaky"}, "kind": {"personal"}, "preset": {"read-only"}, "expires": {"never"}}, 404)

	all, err := f.db.ListOrgAPIKeys(ctx, f.acme)
	must(t, err)
	ids := map[string]string{}
	for _, k := range all {
		ids[k.Handle] = k.ID
	}
	if len(ids) != 2 || ids["bobs"] == "" || ids["deploy"] == "" {
		t.Fatalf("keys %v", ids)
	}
	_, body = bob.get("/orgs/" + f.acme + "/keys")
	if !strings.Contains(body, "bobs") {
		t.Error("bob does not see his key")
	}
	_, body = alice.get("/orgs/" + f.acme + "/keys")
	for _, w := range []string{"bobs", "deploy", "workspace · prod", "personal · bob", "/keys/" + ids["deploy"] + "/revoke", "/keys/" + ids["bobs"] + "/revoke"} {
		if !strings.Contains(body, w) {
			t.Errorf("alice's keys page lacks %q", w)
		}
	}
	// Only admins list every key of the organization (orgs.ListAllKeys);
	// bob reaches no tenant, so erin's workspace key is not shown to him
	// and is not his to revoke.
	_, body = bob.get("/orgs/" + f.acme + "/keys")
	if strings.Contains(body, "deploy") {
		t.Error("bob should not see deploy, a workspace key of a tenant he does not reach")
	}
	mustNo(bob, "/orgs/{acme}/keys/"+ids["deploy"]+"/revoke", url.Values{"confirm": {"yes"}}, 404)
	mustNo(carol, "/orgs/{acme}/keys/"+ids["bobs"]+"/revoke", url.Values{"confirm": {"yes"}}, 404)
	mustNo(carol, "/orgs/{other}/keys/"+ids["bobs"]+"/revoke", url.Values{"confirm": {"yes"}}, 404)
	mustNo(erin, "/orgs/{acme}/keys/"+ids["bobs"]+"/revoke", url.Values{}, 200, "Revoke the key bobs?")
	// Granted read-only, bob still may not revoke the tenant's workspace key.
	must(t, f.svc.Grant(ctx, orgs.Actor{UserID: f.users["alice"].ID}, f.acme, f.prod, f.users["bob"].ID, orgs.ReadOnly))
	_, body = bob.get("/orgs/" + f.acme + "/keys")
	if !strings.Contains(body, "deploy") || strings.Contains(body, "/keys/"+ids["deploy"]+"/revoke") {
		t.Error("bob (read-only on prod) should see deploy without a revoke button")
	}
	mustNo(bob, "/orgs/{acme}/keys/"+ids["deploy"]+"/revoke", url.Values{"confirm": {"yes"}}, 403, "read-write access to tenant")
	mustNo(bob, "/orgs/{acme}/keys/"+ids["bobs"]+"/revoke", url.Values{}, 200, "Revoke the key bobs?")
	mustNo(bob, "/orgs/{acme}/keys/"+ids["bobs"]+"/revoke", url.Values{"confirm": {"yes"}}, 303)
	mustNo(alice, "/orgs/{acme}/keys/"+ids["deploy"]+"/revoke", url.Values{"confirm": {"yes"}}, 303)
	for _, id := range ids {
		k, err := f.db.GetAPIKey(ctx, id)
		must(t, err)
		if k.RevokedAt == nil {
			t.Errorf("%s not revoked", k.Handle)
		}
	}
	_, body = alice.get("/orgs/" + f.acme + "/audit")
	if !strings.Contains(body, "key.created") || !strings.Contains(body, "key.revoked") {
		t.Error("key events missing from the audit log")
	}
}
