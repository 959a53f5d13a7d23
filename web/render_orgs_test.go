package web

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/orgs"
)

// renderOrgHead is an organization seen by an owner.
func renderOrgHead(role orgs.Role, tab string) orgHead {
	v := &orgs.View{Role: role}
	v.ID, v.Name = "org_abc", "Acme <co>"
	return newOrgHead(v, tab)
}

func TestRenderOrgs(t *testing.T) {
	nav := []navOrg{{ID: "org_abc", Name: "Acme <co>"}}
	out := renderPage(t, "orgs", "orgs", pageData{Title: "Organizations", User: testUserValue, Section: "orgs", Orgs: nav, Page: orgsPage{
		Orgs: []orgRow{{ID: "org_abc", Name: "Acme <co>", Role: orgs.Owner}, {ID: "org_def", Name: "Beta", Role: orgs.Viewer, Suspended: true}},
		Name: "x\x01", Error: "Name must not contain control characters.",
	}})
	mustContain(t, "orgs", out, `href="/orgs/org_abc">Acme &lt;co&gt;</a>`, "Your role: owner", "suspended", `action="/orgs"`,
		`aria-describedby="org-name-hint org-name-error" aria-invalid="true"`, `id="org-name-error">Name must not contain control characters.</p>`,
		// The switcher: Personal (current here), the organizations, the list.
		`<summary><span class="visually-hidden">Organization: </span>Personal</summary>`, `<a href="/keys" aria-current="true">Personal</a>`,
		`<a href="/orgs/org_abc">Acme &lt;co&gt;</a>`, `<a href="/orgs" aria-current="page">All organizations</a>`)
	empty := renderPage(t, "orgs", "orgs-empty", pageData{Title: "Organizations", User: testUserValue, Page: orgsPage{}})
	mustContain(t, "orgs", empty, `class="empty"`)
	mustNotContain(t, "orgs", empty, "field-error", "aria-invalid")
}

func TestRenderOrg(t *testing.T) {
	created := newPageTime(renderNow.Add(-48 * time.Hour))
	nav := []navOrg{{ID: "org_abc", Name: "Acme <co>", Current: true}}
	owner := renderPage(t, "org", "org-owner", pageData{Title: "Acme", User: testUserValue, Orgs: nav, OrgName: "Acme <co>", Page: orgPage{
		Org: renderOrgHead(orgs.Owner, "overview"), Created: created, Tier: "pro", Name: "", NameError: "Name is required.",
	}})
	mustContain(t, "org", owner, `<summary><span class="visually-hidden">Organization: </span>Acme &lt;co&gt;</summary>`,
		`<a href="/orgs/org_abc" aria-current="true">Acme &lt;co&gt;</a>`, `<a href="/keys">Personal</a>`,
		`action="/orgs/org_abc/rename"`, `action="/orgs/org_abc/delete"`, `action="/orgs/org_abc/leave"`, `id="org-name-error">Name is required.</p>`,
		`<code id="copy-org_abc" class="select-all">org_abc</code>`, `data-copy-target="copy-org_abc" hidden>`,
		`<a href="/orgs/org_abc/audit">Audit log</a>`, `<a href="/orgs/org_abc" aria-current="page">Overview</a>`, "<dt>Plan</dt><dd>pro</dd>")
	member := renderPage(t, "org", "org-member", pageData{Title: "Acme", User: testUserValue, Page: orgPage{Org: renderOrgHead(orgs.Member, "overview"), Created: created, Name: "Acme <co>"}})
	mustContain(t, "org", member, `action="/orgs/org_abc/leave"`, `href="/orgs/org_abc/members"`)
	mustNotContain(t, "org", member, "/rename", "/delete", "/audit", "Plan")
	admin := renderPage(t, "org", "", pageData{Title: "Acme", User: testUserValue, Page: orgPage{Org: renderOrgHead(orgs.Admin, "overview"), Created: created, Name: "Acme"}})
	mustContain(t, "org", admin, `action="/orgs/org_abc/rename"`)
	mustNotContain(t, "org", admin, `action="/orgs/org_abc/delete"`)

	confirm := renderPage(t, "org_confirm", "org-confirm", pageData{Title: "Remove", User: testUserValue, Page: confirmPage{
		Org: renderOrgHead(orgs.Owner, "members"), Heading: "Make bob <b> an owner?", Text: "Sure?", Action: "/orgs/org_abc/transfer",
		Button: "Transfer ownership", Cancel: "/orgs/org_abc/members", Fields: map[string]string{"user_id": "usr_<2>"},
	}})
	mustContain(t, "org_confirm", confirm, `<input type="hidden" name="confirm" value="yes">`, `<input type="hidden" name="user_id" value="usr_&lt;2&gt;">`,
		`action="/orgs/org_abc/transfer"`, `href="/orgs/org_abc/members">Cancel</a>`, "Make bob &lt;b&gt; an owner?")
}

func TestRenderOrgMembers(t *testing.T) {
	joined := newPageTime(renderNow.Add(-time.Hour))
	page := membersPage{
		Org: renderOrgHead(orgs.Owner, "members"),
		Members: []memberRow{
			{UserID: "usr_123", Username: "alice<b>", Role: orgs.Owner, Joined: joined, Self: true},
			{UserID: "usr_2", Username: "bob", Name: "Bob <B>", Role: orgs.Member, Joined: joined, Roles: orgs.Roles, Removable: true, Transferable: true},
		},
		Invitations: []invitationRow{{ID: "inv_1", Email: "c@example.com", InvitedBy: "alice<b>", Role: orgs.Viewer, Expires: newPageTime(renderNow.Add(72 * time.Hour))}},
		Invite:      inviteForm{Email: "bad", Role: "admin", Roles: orgs.Roles, Errors: map[string]string{"email": "Email must be a plain address."}},
		Link:        "http://localhost:8080/invitations/lki_secret",
	}
	out := renderPage(t, "org_members", "org-members", pageData{Title: "Members", User: testUserValue, Flash: "Role changed.", Page: page})
	mustContain(t, "org_members", out, `id="invite-link" type="text" value="http://localhost:8080/invitations/lki_secret" readonly`, `data-copy-target="invite-link"`,
		`action="/orgs/org_abc/members/usr_2/role"`, `<label for="role-usr_2" class="visually-hidden">Role of bob</label>`, `<option value="member" selected>member</option>`,
		`action="/orgs/org_abc/members/usr_2/remove"`, `action="/orgs/org_abc/transfer"`, `<input type="hidden" name="user_id" value="usr_2">`,
		`action="/orgs/org_abc/invitations/inv_1/cancel"`, "c@example.com", "invited by alice&lt;b&gt;",
		`<option value="admin" selected>admin</option>`, `id="invite-email-error">Email must be a plain address.</p>`, `value="bad"`,
		"(you)", "Bob &lt;B&gt;", "2 members", `<script src="/static/copy.js"></script>`)
	mustNotContain(t, "org_members", out, `action="/orgs/org_abc/members/usr_123/role"`, `action="/orgs/org_abc/members/usr_123/remove"`)

	viewer := renderPage(t, "org_members", "org-members-viewer", pageData{Title: "Members", User: testUserValue, Page: membersPage{
		Org: renderOrgHead(orgs.Viewer, "members"), Members: []memberRow{{UserID: "usr_2", Username: "bob", Role: orgs.Owner, Joined: joined}},
	}})
	mustNotContain(t, "org_members", viewer, "<form method=\"post\" action=\"/orgs", "Pending invitations", "invite-link")
}

func TestRenderOrgTenants(t *testing.T) {
	ts := []orgs.TenantRef{{ID: "tnt_1", Name: "prod <p>", Role: orgs.ReadWrite}}
	admin := renderPage(t, "org_tenants", "org-tenants", pageData{Title: "Tenants", User: testUserValue, Page: tenantsPage{
		Org: renderOrgHead(orgs.Admin, "tenants"), Tenants: ts, Name: "prod <p>", Error: "The organization already has a tenant with this name.",
	}})
	mustContain(t, "org_tenants", admin, `href="/orgs/org_abc/tenants/tnt_1">prod &lt;p&gt;</a>`, "Access: read-write", `action="/orgs/org_abc/tenants"`,
		`id="tenant-name-error">The organization already has a tenant with this name.</p>`, `<code id="copy-tnt_1" class="select-all">tnt_1</code>`)
	member := renderPage(t, "org_tenants", "org-tenants-member", pageData{Title: "Tenants", User: testUserValue, Page: tenantsPage{
		Org: renderOrgHead(orgs.Member, "tenants"), Tenants: []orgs.TenantRef{{ID: "tnt_1", Name: "prod", Role: orgs.ReadOnly}},
	}})
	mustContain(t, "org_tenants", member, `<span class="list-title">prod</span>`, "Access: read-only")
	mustNotContain(t, "org_tenants", member, `action="/orgs/org_abc/tenants"`, `href="/orgs/org_abc/tenants/tnt_1"`)
	none := renderPage(t, "org_tenants", "", pageData{Title: "Tenants", User: testUserValue, Page: tenantsPage{Org: renderOrgHead(orgs.Member, "tenants")}})
	mustContain(t, "org_tenants", none, "You do not reach any tenant yet.")

	tenant := renderPage(t, "org_tenant", "org-tenant", pageData{Title: "Tenant", User: testUserValue, Page: tenantPage{
		Org: renderOrgHead(orgs.Owner, "tenants"), Tenant: ts[0],
		Grants:    []grantRow{{UserID: "usr_2", Username: "bob", Role: orgs.ReadOnly}},
		Grantable: []memberRow{{UserID: "usr_2", Username: "bob", Role: orgs.Member}, {UserID: "usr_3", Username: "vic", Role: orgs.Viewer}},
		Name:      "", NameError: "Name is required.", GrantUser: "usr_3", GrantRole: "read-write",
		GrantErrors: map[string]string{"user_id": "Choose a member of this organization."},
	}})
	mustContain(t, "org_tenant", tenant, `action="/orgs/org_abc/tenants/tnt_1/grants/usr_2/revoke"`, `action="/orgs/org_abc/tenants/tnt_1/grants"`,
		`<option value="usr_3" selected>vic (viewer)</option>`, `value="read-write" checked`, `id="grant-user-error">Choose a member of this organization.</p>`,
		`action="/orgs/org_abc/tenants/tnt_1/rename"`, `action="/orgs/org_abc/tenants/tnt_1/delete"`, `id="tenant-name-error">Name is required.</p>`)
	alone := renderPage(t, "org_tenant", "", pageData{Title: "Tenant", User: testUserValue, Page: tenantPage{Org: renderOrgHead(orgs.Owner, "tenants"), Tenant: ts[0], GrantRole: "read-only"}})
	mustContain(t, "org_tenant", alone, "No member has been granted this tenant.", "Every member is an owner or admin")
}

func TestRenderOrgAudit(t *testing.T) {
	out := renderPage(t, "org_audit", "org-audit", pageData{Title: "Audit", User: testUserValue, Page: auditPage{
		Org:    renderOrgHead(orgs.Owner, "audit"),
		Events: []auditRow{{When: newPageTime(renderNow.Add(-time.Minute)), Actor: "alice<b>", Type: "tenant.granted", Target: "bob", Detail: "tnt_1 read-only", IP: "192.0.2.1"}},
		Older:  "/orgs/org_abc/audit?before=7",
	}})
	mustContain(t, "org_audit", out, "<code>tenant.granted</code>", "alice&lt;b&gt;", "tnt_1 read-only", `href="/orgs/org_abc/audit?before=7"`, `<a href="/orgs/org_abc/audit" aria-current="page">`)
	empty := renderPage(t, "org_audit", "", pageData{Title: "Audit", User: testUserValue, Page: auditPage{Org: renderOrgHead(orgs.Owner, "audit")}})
	mustContain(t, "org_audit", empty, `class="empty"`)
}

func TestRenderInvitation(t *testing.T) {
	p := invitationPage{Token: "lki_x", OrgName: "Acme <co>", InvitedBy: "alice<b>", Email: "b@example.com", Role: orgs.Member,
		Expires: newPageTime(renderNow.Add(7 * 24 * time.Hour)), Next: "/invitations/lki_x"}
	out := renderPage(t, "invitation", "invitation", pageData{Title: "Invitation", Page: p})
	mustContain(t, "invitation", out, "Join Acme &lt;co&gt;", "alice&lt;b&gt;", "b@example.com", "<dd>member</dd>",
		`href="/login?next=%2finvitations%2flki_x"`, `href="/signup?next=%2finvitations%2flki_x"`)
	mustNotContain(t, "invitation", out, "<form method=\"post\" action=\"/invitations")
	p.SignedIn = true
	in := renderPage(t, "invitation", "invitation-signed-in", pageData{Title: "Invitation", User: testUserValue, Page: p})
	mustContain(t, "invitation", in, `<form method="post" action="/invitations/lki_x">`, "Join as member", "Signed in as alice&lt;b&gt;. The link works")
	mustNotContain(t, "invitation", in, "/login?next")
}

func TestRenderOrgKeys(t *testing.T) {
	row := orgKeyRow{keyRow: keyRow{Handle: "deploy", Prefix: "lk_live_abcd", Status: "active", Scopes: []string{"keys:read"}, Created: renderNow.Add(-time.Hour)},
		ID: "key-1", Kind: orgs.KindPersonal, Owner: "bob <b>", Tenants: []string{"prod"}, Revocable: true}
	ts := []orgs.TenantRef{{ID: "tnt_1", Name: "prod", Role: orgs.ReadWrite}}
	out := renderPage(t, "org_keys", "org-keys", pageData{Title: "Keys", User: testUserValue, Page: orgKeysPage{
		Org: renderOrgHead(orgs.Admin, "keys"), Keys: []orgKeyRow{row}, Reach: ts, Workspace: ts,
		Form:   orgKeyForm{Handle: "x y", Kind: "workspace", TenantID: "tnt_1", Preset: "read-write", Tenants: []string{"tnt_1"}, Errors: map[string]string{"handle": "Bad name."}},
		Expiry: []keyChoice{{Value: "never", Label: "Never", Selected: true}},
	}})
	mustContain(t, "org_keys", out, `action="/orgs/org_abc/keys/key-1/revoke"`, "personal · bob &lt;b&gt;", "only prod", `value="workspace" checked`,
		`<option value="tnt_1" selected>prod</option>`, `value="tnt_1" checked`, `id="org-key-handle-error">Bad name.</p>`, `value="read-write" checked`)
	member := renderPage(t, "org_keys", "org-keys-member", pageData{Title: "Keys", User: testUserValue, Page: orgKeysPage{
		Org: renderOrgHead(orgs.Member, "keys"), Form: orgKeyForm{Kind: "workspace", Preset: "read-only", Errors: map[string]string{"tenant_id": "Choose a tenant you reach."}},
	}})
	mustContain(t, "org_keys", member, `class="empty"`, `aria-describedby="org-key-tenant-error"`, `id="org-key-tenant-error">Choose a tenant you reach.</p>`)
	mustNotContain(t, "org_keys", member, `value="workspace"`, `name="tenants"`)
}

func TestRenderOrgApps(t *testing.T) {
	out := renderPage(t, "org_apps", "org-apps", pageData{Title: "Apps", User: testUserValue, Page: orgAppsPage{
		Org: renderOrgHead(orgs.Admin, "apps"), Apps: []orgAppRow{{ID: "c1", Name: "Dash <d>", Owner: "bob", Mine: true}, {ID: "c2", Name: "CLI", Owner: "erin", Public: true}},
	}})
	mustContain(t, "org_apps", out, `<a href="/apps/c1">Dash &lt;d&gt;</a>`, "Public · registered by erin", `<a href="/orgs/org_abc/apps" aria-current="page">Apps</a>`)
	mustNotContain(t, "org_apps", out, `href="/apps/c2"`)
	mustContain(t, "org_apps", renderPage(t, "org_apps", "", pageData{Title: "Apps", User: testUserValue, Page: orgAppsPage{Org: renderOrgHead(orgs.Member, "apps")}}), `class="empty"`)
}
