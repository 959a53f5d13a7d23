package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/storage"
)

// orgPeople are the people of the organization tests: one per role, a
// member the actions are done to (target), and someone outside. Each is
// signed in with a browser session (which reaches every organization the
// person belongs to, so requests cost no password hashing and meet the
// membership checks themselves) and has a personal API key without
// organization binding (which reaches none: SPEC §3.3a).
type orgPeople struct {
	byRole map[string]*orgPerson // owner, admin, member, viewer, non-member
	target *orgPerson
}

type orgPerson struct {
	user    *storage.User
	auth    string // "Bearer <key>"
	browser *http.Client
	csrf    string
}

// orgServer starts a server whose default tier has no burst in the way of
// the many requests of the matrix and isolation tests.
func orgServer(t *testing.T, configure func(testing.TB, *config.Config)) *testServer {
	t.Helper()
	return newTestServerWith(t, func(c *config.Config) {
		c.RateLimits.DefaultTier = "enterprise"
		if configure != nil {
			configure(t, c)
		}
	})
}

// newOrgPeople creates the people with prefix in their usernames and a
// key each.
func newOrgPeople(t *testing.T, s *testServer, prefix string) *orgPeople {
	t.Helper()
	p := &orgPeople{byRole: map[string]*orgPerson{}}
	mk := func(name string) *orgPerson {
		u := s.CreateUser(t, prefix+name, "a-long-enough-password")
		status, body, _ := apiCall(t, http.MethodPost, s.URL+"/user/keys", basicHeader(u.Username, "a-long-enough-password"), `{"handle":"org-tests"}`)
		if status != http.StatusCreated {
			t.Fatalf("create key for %s: %d %v", u.Username, status, body)
		}
		c := browser(t)
		s.Login(t, c, u.Username, "a-long-enough-password")
		page, err := c.Get(s.URL + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		page.Body.Close()
		return &orgPerson{user: u, auth: "Bearer " + body["key"].(string), browser: c, csrf: page.Header.Get("X-CSRF-Token")}
	}
	for _, r := range []string{"owner", "admin", "member", "viewer", "non-member"} {
		p.byRole[r] = mk(r)
	}
	p.target = mk("target")
	return p
}

// roleOrg is one organization with the people in their roles, a
// tenant, a pending invitation and, on demand, an app of the target.
type roleOrg struct {
	s          *testServer
	people     *orgPeople
	org        string
	tenant     string
	invitation string
	app        string
	key        string
}

func newRoleOrg(t *testing.T, s *testServer, people *orgPeople, name string) *roleOrg {
	t.Helper()
	ctx := context.Background()
	svc, db := s.App.Orgs(), s.App.DB()
	owner := orgs.Actor{UserID: people.byRole["owner"].user.ID}
	o, err := svc.Create(ctx, owner, name)
	if err != nil {
		t.Fatal(err)
	}
	for role, who := range map[string]*orgPerson{"admin": people.byRole["admin"], "member": people.byRole["member"], "viewer": people.byRole["viewer"]} {
		if err := db.AddMember(ctx, &storage.Membership{OrgID: o.ID, UserID: who.user.ID, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddMember(ctx, &storage.Membership{OrgID: o.ID, UserID: people.target.user.ID, Role: "member"}); err != nil {
		t.Fatal(err)
	}
	tn, err := svc.CreateTenant(ctx, owner, o.ID, "production")
	if err != nil {
		t.Fatal(err)
	}
	inv, _, err := svc.Invite(ctx, owner, o.ID, "", orgs.Member)
	if err != nil {
		t.Fatal(err)
	}
	return &roleOrg{s: s, people: people, org: o.ID, tenant: tn.ID, invitation: inv.ID}
}

// addApp gives the organization an app owned by the target member.
func (f *roleOrg) addApp(t *testing.T) string {
	t.Helper()
	if f.app == "" {
		f.app, _ = f.s.CreateClient(t, oauth.ClientSpec{Name: "Target's app", OwnerID: f.people.target.user.ID, OrgID: f.org,
			RedirectURIs: []string{"https://app.example/cb"}, RequirePKCE: true})
	}
	return f.app
}

// call sends one request as who, signed in, to the path under the server.
func (f *roleOrg) call(t *testing.T, who *orgPerson, method, path, body string) (int, map[string]any) {
	t.Helper()
	return sessionCall(t, f.s, who, method, path, body)
}

// sessionCall sends one request with who's browser session and CSRF header.
func sessionCall(t *testing.T, s *testServer, who *orgPerson, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-CSRF-Token", who.csrf)
	resp, err := who.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: non-JSON answer %d: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

// targetKey gives the target member a personal key of the organization
// (made over HTTP, as the target) and returns its id.
func (f *roleOrg) targetKey(t *testing.T) string {
	t.Helper()
	if f.key == "" {
		status, body := f.call(t, f.people.target, "POST", "/v1/orgs/"+f.org+"/keys", `{"handle":"target-`+f.org+`"}`)
		if status != http.StatusCreated {
			t.Fatalf("the target's key: %d %v", status, body)
		}
		f.key = body["id"].(string)
	}
	return f.key
}
