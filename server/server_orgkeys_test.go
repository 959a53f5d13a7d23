package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// orgFixture is one organization: alice owns it, bob is a member with
// read-write access to tenant A, carol a member without grants, dave a
// viewer; erin owns another organization with tenant X.
type orgFixture struct {
	s                   *testServer
	org, other          string
	tenantA, tenantB, x string
	pw                  map[string]string // Basic headers by username
}

func newOrgFixture(t *testing.T) *orgFixture {
	t.Helper()
	s := newTestServer(t)
	f := &orgFixture{s: s, org: orgs.NewID("org"), other: orgs.NewID("org"),
		tenantA: orgs.NewID("tnt"), tenantB: orgs.NewID("tnt"), x: orgs.NewID("tnt"), pw: map[string]string{}}
	ids := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		ids[u] = s.CreateUser(t, u, u+"-password-123").ID
		f.pw[u] = basicHeader(u, u+"-password-123")
	}
	db, ctx := s.App.DB(), context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.CreateOrg(ctx, &storage.Organization{ID: f.org, Name: "Acme"}, ids["alice"]))
	must(db.CreateOrg(ctx, &storage.Organization{ID: f.other, Name: "Other"}, ids["erin"]))
	must(db.AddMember(ctx, &storage.Membership{OrgID: f.org, UserID: ids["bob"], Role: "member"}))
	must(db.AddMember(ctx, &storage.Membership{OrgID: f.org, UserID: ids["carol"], Role: "member"}))
	must(db.AddMember(ctx, &storage.Membership{OrgID: f.org, UserID: ids["dave"], Role: "viewer"}))
	must(db.CreateTenant(ctx, &storage.Tenant{ID: f.tenantA, OrgID: f.org, Name: "alpha"}))
	must(db.CreateTenant(ctx, &storage.Tenant{ID: f.tenantB, OrgID: f.org, Name: "beta"}))
	must(db.CreateTenant(ctx, &storage.Tenant{ID: f.x, OrgID: f.other, Name: "x"}))
	must(db.SetTenantGrant(ctx, &storage.TenantGrant{OrgID: f.org, TenantID: f.tenantA, UserID: ids["bob"], Role: "read-write"}))
	return f
}

// key creates an organization key as user and returns its answer.
func (f *orgFixture) key(t *testing.T, user, body string) map[string]any {
	t.Helper()
	code, k, _ := apiCall(t, "POST", f.s.URL+"/v1/orgs/"+f.org+"/keys", f.pw[user], body)
	if code != 201 {
		t.Fatalf("%s creating %s: %d %v", user, body, code, k)
	}
	return k
}

func tenantIDs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(map[string]any)["id"].(string))
	}
	return out
}

// TestOrgKeyPermissions: who may create and revoke which organization key,
// with the documented 403 and 404 bodies.
func TestOrgKeyPermissions(t *testing.T) {
	f := newOrgFixture(t)
	u := f.s.URL + "/v1/orgs/" + f.org + "/keys"
	bobKey := f.key(t, "bob", `{"handle":"bob-personal"}`)
	carolKey := f.key(t, "carol", `{"handle":"carol-personal"}`)
	wsKey := f.key(t, "bob", fmt.Sprintf(`{"handle":"deploy","kind":"workspace","tenant_id":%q,"scopes":["read-only"]}`, f.tenantA))
	if wsKey["kind"] != "workspace" || wsKey["owner"] != f.tenantA || wsKey["tenant_id"] != f.tenantA {
		t.Fatalf("workspace key %v", wsKey)
	}
	_, erinKey, _ := apiCall(t, "POST", f.s.URL+"/v1/orgs/"+f.other+"/keys", f.pw["erin"], `{"handle":"erin"}`)

	cases := []struct {
		name, user, method, url, body string
		want                          int
		wantMsg                       string
	}{
		{"member makes a workspace key of a tenant without read-write", "bob", "POST", u, fmt.Sprintf(`{"handle":"w2","kind":"workspace","tenant_id":%q}`, f.tenantB), 403, "This action needs read-write access to tenant " + f.tenantB + "."},
		{"viewer makes a workspace key", "dave", "POST", u, fmt.Sprintf(`{"handle":"w3","kind":"workspace","tenant_id":%q}`, f.tenantA), 403, "This action needs read-write access to tenant " + f.tenantA + "."},
		{"narrowing to another org's tenant", "carol", "POST", u, fmt.Sprintf(`{"handle":"n1","tenants":[%q]}`, f.x), 400, ""},
		{"unknown kind", "carol", "POST", u, `{"handle":"k1","kind":"team"}`, 400, ""},
		{"non-member creates", "erin", "POST", u, `{"handle":"e1"}`, 404, "No such organization."},
		{"non-member lists", "erin", "GET", u, "", 404, "No such organization."},
		{"member revokes another member's key", "carol", "DELETE", u + "/" + bobKey["id"].(string), "", 403, "This action needs the admin role in this organization."},
		{"member without access revokes a workspace key", "carol", "DELETE", u + "/" + wsKey["id"].(string), "", 403, "This action needs read-write access to tenant " + f.tenantA + "."},
		{"key of another org", "alice", "DELETE", u + "/" + erinKey["id"].(string), "", 404, "No such key in this organization."},
		{"member revokes their own key", "carol", "DELETE", u + "/" + carolKey["id"].(string), "", 204, ""},
		{"tenant read-write member revokes the workspace key", "bob", "DELETE", u + "/" + wsKey["id"].(string), "", 204, ""},
		{"admin revokes another member's key", "alice", "DELETE", u + "/" + bobKey["id"].(string), "", 204, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := apiCall(t, tc.method, tc.url, f.pw[tc.user], tc.body)
			if code != tc.want || (tc.wantMsg != "" && body["message"] != tc.wantMsg) {
				t.Fatalf("%d %v, want %d %q", code, body, tc.want, tc.wantMsg)
			}
		})
	}
	code, list, _ := apiCall(t, "GET", u, f.pw["alice"], "")
	if code != 200 || len(list["keys"].([]any)) != 3 {
		t.Fatalf("admin list: %d %v", code, list)
	}
	// Below admin, a listing holds only the caller's own keys (keys.list_all).
	code, list, _ = apiCall(t, "GET", u, f.pw["dave"], "")
	if code != 200 || len(list["keys"].([]any)) != 0 {
		t.Fatalf("viewer list: %d %v, want none of the others' keys", code, list)
	}
	audit, err := f.s.App.DB().ListOrgEvents(context.Background(), f.org, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range audit {
		types = append(types, e.Type)
	}
	if n := strings.Count(strings.Join(types, " "), "key.created"); n != 3 || strings.Count(strings.Join(types, " "), "key.revoked") != 3 {
		t.Fatalf("audit %v", types)
	}
}

// TestOrgKeyRightsEachRequest: a removed member's key is refused at the
// next request while the workspace key they made lives on; narrowing and
// capability shape /user and /v1/workspace; org:admin is dropped for
// non-admins; a suspended organization refuses its keys at once.
func TestOrgKeyRightsEachRequest(t *testing.T) {
	f := newOrgFixture(t)
	db, ctx := f.s.App.DB(), context.Background()
	bobPersonal := "Bearer " + f.key(t, "bob", `{"handle":"mine","scopes":["read-write"]}`)["key"].(string)
	bobWS := "Bearer " + f.key(t, "bob", fmt.Sprintf(`{"handle":"ws","kind":"workspace","tenant_id":%q,"scopes":["read-only"]}`, f.tenantA))["key"].(string)
	aliceNarrow := "Bearer " + f.key(t, "alice", fmt.Sprintf(`{"handle":"narrow","tenants":[%q],"scopes":["read-only"]}`, f.tenantB))["key"].(string)
	code, plain, _ := apiCall(t, "POST", f.s.URL+"/user/keys", f.pw["alice"], `{"handle":"plain"}`)
	if code != 201 {
		t.Fatal(plain)
	}
	alicePlain := "Bearer " + plain["key"].(string)

	code, tt, _ := apiCall(t, "GET", f.s.URL+"/tokens/test", bobPersonal, "")
	if code != 200 || slices.Contains(toStrings(tt["scopes"]), "org:admin") || !slices.Contains(toStrings(tt["scopes"]), "org:read") {
		t.Fatalf("a member's key keeps org:admin: %v", tt)
	}
	cases := []struct {
		name, auth, url string
		wantTenants     []string
		wantOrg         bool
	}{
		{"narrowed key /user", aliceNarrow, "/user", []string{f.tenantB}, false},
		{"narrowed key /v1/workspace", aliceNarrow, "/v1/workspace", []string{f.tenantB}, true},
		{"member key /user", bobPersonal, "/user", []string{f.tenantA}, false},
		{"workspace key /v1/workspace", bobWS, "/v1/workspace", []string{f.tenantA}, true},
		{"session-less Basic /user: personal + every tenant", f.pw["alice"], "/user", nil, false},
		{"personal key outside orgs /v1/workspace", alicePlain, "/v1/workspace", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, got, _ := apiCall(t, "GET", f.s.URL+tc.url, tc.auth, "")
			if code != 200 {
				t.Fatalf("%d %v", code, got)
			}
			var ids []string
			if tc.url == "/user" {
				ids = tenantIDs(got["tenants"])
			} else {
				ids = []string{got["id"].(string)}
			}
			switch {
			case tc.wantTenants != nil && !slices.Equal(ids, tc.wantTenants):
				t.Fatalf("tenants %v, want %v (%v)", ids, tc.wantTenants, got)
			case tc.wantOrg && got["organization"].(map[string]any)["id"] != f.org:
				t.Fatalf("organization %v", got)
			}
		})
	}
	code, me, _ := apiCall(t, "GET", f.s.URL+"/user", f.pw["alice"], "")
	if ids := tenantIDs(me["tenants"]); code != 200 || len(ids) != 3 || ids[0] != me["id"] {
		t.Fatalf("alice's /user tenants %v", me["tenants"])
	}
	code, ws, _ := apiCall(t, "GET", f.s.URL+"/v1/workspace", bobWS, "")
	if ws["role"] != "read-only" || ws["name"] != "alpha" {
		t.Fatalf("workspace key's tenant: %d %v", code, ws)
	}
	// bob leaves: his personal key stops at the next request, the
	// workspace key he made stays with its tenant.
	if err := db.RemoveMember(ctx, f.org, mustUser(t, f, "bob")); err != nil {
		t.Fatal(err)
	}
	code, gone, _ := apiCall(t, "GET", f.s.URL+"/tokens/test", bobPersonal, "")
	if code != 401 || gone["error"] != "invalid_api_key" || gone["message"] != "The API key's owner is no longer a member of its organization." {
		t.Fatalf("removed member's key: %d %v", code, gone)
	}
	if code, got, _ := apiCall(t, "GET", f.s.URL+"/v1/workspace", bobWS, ""); code != 200 {
		t.Fatalf("workspace key after its maker left: %d %v", code, got)
	}
	if code, got, _ := apiCall(t, "GET", f.s.URL+"/user", bobWS, ""); code != 403 {
		t.Fatalf("a workspace key on /user: %d %v", code, got)
	}
	// Suspending the organization refuses its keys at once; keys outside
	// it keep working.
	if err := db.UpdateOrg(ctx, f.org, func(o *storage.Organization) error { t := time.Now(); o.SuspendedAt = &t; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{bobWS, aliceNarrow} {
		code, got, _ := apiCall(t, "GET", f.s.URL+"/tokens/test", k, "")
		if code != 401 || got["error"] != "invalid_api_key" || !strings.Contains(got["message"].(string), "suspended") {
			t.Fatalf("key of a suspended org: %d %v", code, got)
		}
	}
	if code, got, _ := apiCall(t, "GET", f.s.URL+"/tokens/test", alicePlain, ""); code != 200 {
		t.Fatalf("key outside the suspended org: %d %v", code, got)
	}
}

// TestOrgTierInheritance: an organization key or app without a tier of
// its own spends its organization's tier, else the deployment default.
func TestOrgTierInheritance(t *testing.T) {
	f := newOrgFixture(t)
	db, ctx := f.s.App.DB(), context.Background()
	inherit := "Bearer " + f.key(t, "alice", `{"handle":"inherit"}`)["key"].(string)
	own := "Bearer " + f.key(t, "alice", `{"handle":"own","tier":"free"}`)["key"].(string)
	id, sec := f.s.CreateClient(t, oauth.ClientSpec{Name: "org app", GrantTypes: []string{"client_credentials"}, Scopes: []string{"users:read"}})
	if err := db.UpdateClient(ctx, id, func(c *storage.Client) error { c.OrgID, c.Tier = f.org, ""; return nil }); err != nil {
		t.Fatal(err)
	}
	limit := func(auth string) string {
		t.Helper()
		_, _, h := apiCall(t, "GET", f.s.URL+"/tokens/test", auth, "")
		return h.Get("X-RateLimit-Limit")
	}
	if got := limit(inherit); got != "1000" {
		t.Fatalf("org without a tier: limit %s, want the default 1000", got)
	}
	if err := db.UpdateOrg(ctx, f.org, func(o *storage.Organization) error { o.Tier = "pro"; return nil }); err != nil {
		t.Fatal(err)
	}
	tok := "Bearer " + clientToken(t, f.s, id, sec, "users:read")
	exchanged := exchange(t, f, inherit)
	for _, tc := range []struct{ name, auth, want string }{
		{"key inherits", inherit, "10000"},
		{"key's token inherits", exchanged, "10000"},
		{"key with its own tier", own, "1000"},
		{"org app inherits", tok, "10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := limit(tc.auth); got != tc.want {
				t.Fatalf("limit %s, want %s", got, tc.want)
			}
		})
	}
}

func exchange(t *testing.T, f *orgFixture, key string) string {
	t.Helper()
	code, tok, _ := apiCall(t, "POST", f.s.URL+"/tokens/generate", key, "")
	if code != 200 {
		t.Fatalf("exchange: %d %v", code, tok)
	}
	return "Bearer " + tok["token"].(string)
}

func mustUser(t *testing.T, f *orgFixture, name string) string {
	t.Helper()
	u, err := f.s.App.DB().GetUserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}
