package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// isolationBodies are the request bodies of the organization routes that
// take one; "{user}" is replaced by a user id of the case.
var isolationBodies = map[string]string{
	"PATCH /v1/orgs/:id":                               `{"name":"Taken over"}`,
	"PATCH /v1/orgs/:id/members/:user_id":              `{"role":"viewer"}`,
	"POST /v1/orgs/:id/transfer":                       `{"user_id":"{user}"}`,
	"POST /v1/orgs/:id/invitations":                    `{"role":"member"}`,
	"POST /v1/orgs/:id/tenants":                        `{"name":"intruder"}`,
	"PATCH /v1/orgs/:id/tenants/:tid":                  `{"name":"intruder"}`,
	"PUT /v1/orgs/:id/tenants/:tid/grants/:user_id":    `{"role":"read-write"}`,
	"POST /v1/orgs/:id/keys":                           `{"handle":"intruder"}`,
	"POST /v1/orgs/:id/leave":                          "",
	"DELETE /v1/orgs/:id":                              "",
	"DELETE /v1/orgs/:id/members/:user_id":             "",
	"DELETE /v1/orgs/:id/invitations/:inv_id":          "",
	"DELETE /v1/orgs/:id/tenants/:tid":                 "",
	"DELETE /v1/orgs/:id/tenants/:tid/grants/:user_id": "",
	"DELETE /v1/orgs/:id/apps/:client_id":              "",
	"DELETE /v1/orgs/:id/keys/:key_id":                 "",
	"GET /v1/orgs/:id":                                 "",
	"GET /v1/orgs/:id/members":                         "",
	"GET /v1/orgs/:id/invitations":                     "",
	"GET /v1/orgs/:id/tenants":                         "",
	"GET /v1/orgs/:id/audit":                           "",
	"GET /v1/orgs/:id/apps":                            "",
	"GET /v1/orgs/:id/keys":                            "",
}

// isolationIDs fill a route's parameters.
type isolationIDs struct {
	org, user, inv, tenant, app, key string
}

func (ids isolationIDs) fill(route string) string {
	r := strings.NewReplacer(":id", ids.org, ":user_id", ids.user, ":inv_id", ids.inv, ":tid", ids.tenant,
		":client_id", ids.app, ":key_id", ids.key, "{user}", ids.user)
	return r.Replace(route)
}

// TestOrgIsolation: every route under /v1/orgs/{id} called by the owner
// of organization A with ids of organization B — B itself, B's members,
// tenants, invitations and apps under A's id, mixes of both — and with
// guessed ids answers 404 and changes nothing, on SQLite and PostgreSQL. A
// personal key bound to A does not reach B even when its owner belongs to
// B too.
func TestOrgIsolation(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := orgServer(t, b.Configure)
			pa, pb := newOrgPeople(t, s, "a-"), newOrgPeople(t, s, "b-")
			fa, fb := newRoleOrg(t, s, pa, "Org A"), newRoleOrg(t, s, pb, "Org B")
			fa.addApp(t)
			fb.addApp(t)
			a := isolationIDs{org: fa.org, user: pa.target.user.ID, inv: fa.invitation, tenant: fa.tenant, app: fa.app, key: "lk_key_a"}
			bIDs := isolationIDs{org: fb.org, user: pb.target.user.ID, inv: fb.invitation, tenant: fb.tenant, app: fb.app, key: "lk_key_b"}
			guess := isolationIDs{org: orgs.NewID("org"), user: uuid.NewString(), inv: orgs.NewID("inv"), tenant: orgs.NewID("tnt"), app: uuid.NewString(), key: uuid.NewString()}
			// A's ids under A with one foreign part each.
			mixes := []isolationIDs{bIDs, guess}
			for _, m := range []isolationIDs{bIDs, guess} {
				mixed := a
				mixed.user = m.user
				mixes = append(mixes, mixed)
				mixed = a
				mixed.tenant, mixed.inv, mixed.app, mixed.key = m.tenant, m.inv, m.app, m.key
				mixes = append(mixes, mixed)
			}
			mixes[0].org, mixes[1].org = fb.org, guess.org // B itself, a guessed organization
			for i := 2; i < len(mixes); i++ {
				mixes[i].org = fa.org
			}

			covered := 0
			for _, r := range s.App.Handler().(*gin.Engine).Routes() {
				if !strings.HasPrefix(r.Path, "/v1/orgs/:id") {
					continue
				}
				route := r.Method + " " + r.Path
				body, ok := isolationBodies[route]
				if !ok {
					t.Errorf("%s is not covered by the isolation test: add it to isolationBodies", route)
					continue
				}
				covered++
				for _, ids := range mixes {
					path := ids.fill(r.Path)
					if path == a.fill(r.Path) {
						continue // nothing foreign in this route for this mix
					}
					status, m := sessionCall(t, s, pa.byRole["owner"], r.Method, path, ids.fill(body))
					if status != http.StatusNotFound || m["error"] != "not_found" {
						t.Errorf("%s %s (body %s) as A's owner: %d %v, want 404 not_found", r.Method, path, ids.fill(body), status, m)
					}
				}
			}
			if covered < 20 {
				t.Fatalf("only %d organization routes found", covered)
			}
			checkUntouched(t, s, pb, fb)
			checkBoundKey(t, s, pa, fa, fb)
		})
	}
}

// checkUntouched: organization B is as it was made.
func checkUntouched(t *testing.T, s *testServer, pb *orgPeople, fb *roleOrg) {
	t.Helper()
	ctx := context.Background()
	owner := orgs.Actor{UserID: pb.byRole["owner"].user.ID}
	svc := s.App.Orgs()
	v, err := svc.Get(ctx, owner, fb.org)
	if err != nil || v.Name != "Org B" {
		t.Fatalf("B after the attempts: %+v %v", v, err)
	}
	ms, _ := svc.Members(ctx, owner, fb.org)
	ts, _ := svc.Tenants(ctx, owner, fb.org)
	invs, _ := svc.Invitations(ctx, owner, fb.org)
	apps, _ := s.App.DB().ListOrgClients(ctx, fb.org)
	if len(ms) != 5 || len(ts) != 1 || ts[0].Name != "production" || len(invs) != 1 || len(apps) != 1 {
		t.Errorf("B changed: %d members, tenants %v, %d invitations, %d apps", len(ms), ts, len(invs), len(apps))
	}
	for _, m := range ms {
		if want := map[string]string{pb.target.user.ID: "member", pb.byRole["owner"].user.ID: "owner"}[m.UserID]; want != "" && m.Role != want {
			t.Errorf("B's member %s is now %s", m.Username, m.Role)
		}
	}
}

// checkBoundKey: A's admin, also an admin of B, reaches B signed in; their
// personal key reaches no organization while unbound (SPEC §3.3a), and
// only A once bound to A.
func checkBoundKey(t *testing.T, s *testServer, pa *orgPeople, fa, fb *roleOrg) {
	t.Helper()
	ctx := context.Background()
	dual := pa.byRole["admin"]
	if err := s.App.DB().AddMember(ctx, &storage.Membership{OrgID: fb.org, UserID: dual.user.ID, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	if status, m := sessionCall(t, s, dual, "GET", "/v1/orgs/"+fb.org+"/members", ""); status != http.StatusOK {
		t.Fatalf("a member of B signed in: %d %v", status, m)
	}
	if status, m, _ := apiCall(t, "GET", s.URL+"/v1/orgs/"+fa.org+"/members", dual.auth, ""); status != http.StatusNotFound {
		t.Errorf("a key outside organizations in A: %d %v, want 404", status, m)
	}
	if status, m, _ := apiCall(t, "GET", s.URL+"/v1/orgs", dual.auth, ""); status != http.StatusOK || len(m["orgs"].([]any)) != 0 {
		t.Errorf("GET /v1/orgs with a key outside organizations: %d %v, want none", status, m)
	}
	ks, err := s.App.DB().ListAPIKeys(ctx, dual.user.ID)
	if err != nil || len(ks) != 1 {
		t.Fatalf("keys of %s: %v %v", dual.user.Username, ks, err)
	}
	if err := s.App.DB().UpdateAPIKey(ctx, ks[0].ID, func(k *storage.APIKey) error { k.OrgID = fa.org; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/orgs/" + fb.org, ""},
		{"GET", "/v1/orgs/" + fb.org + "/members", ""},
		{"POST", "/v1/orgs/" + fb.org + "/tenants", `{"name":"via A's key"}`},
		{"DELETE", "/v1/orgs/" + fb.org + "/members/" + fb.people.target.user.ID, ""},
	} {
		if status, m, _ := apiCall(t, c.method, s.URL+c.path, dual.auth, c.body); status != http.StatusNotFound {
			t.Errorf("key bound to A: %s %s: %d %v, want 404", c.method, c.path, status, m)
		}
	}
	status, m, _ := apiCall(t, "GET", s.URL+"/v1/orgs", dual.auth, "")
	if list, _ := m["orgs"].([]any); status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["id"] != fa.org {
		t.Errorf("GET /v1/orgs with a key bound to A: %d %v, want A alone", status, m)
	}
	if status, m, _ := apiCall(t, "POST", s.URL+"/v1/orgs", dual.auth, `{"name":"New"}`); status != http.StatusForbidden {
		t.Errorf("POST /v1/orgs with a key bound to A: %d %v, want 403", status, m)
	}
	if status, m, _ := apiCall(t, "GET", s.URL+"/v1/orgs/"+fa.org+"/members", dual.auth, ""); status != http.StatusOK {
		t.Errorf("key bound to A in A: %d %v", status, m)
	}
}
