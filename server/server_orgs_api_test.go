package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// expect fails the test unless the call answered status (and, for
// errors, the code and a message containing says).
func expect(t *testing.T, what string, status int, body map[string]any, wantStatus int, code, says string) {
	t.Helper()
	msg, _ := body["message"].(string)
	if status != wantStatus || (code != "" && body["error"] != code) || !strings.Contains(msg, says) {
		t.Errorf("%s: %d %v, want %d %s %q", what, status, body, wantStatus, code, says)
	}
}

// TestOrgAPIMembersAndInvitations: the invitation link is shown once and
// works once, owners are made only by owners, the last owner cannot leave,
// ownership transfers, grants reach tenants, the audit log pages.
func TestOrgAPIMembersAndInvitations(t *testing.T) {
	s := orgServer(t, nil)
	p := newOrgPeople(t, s, "fl-")
	f := newRoleOrg(t, s, p, "Flow")
	owner, admin, member, outsider := p.byRole["owner"], p.byRole["admin"], p.byRole["member"], p.byRole["non-member"]
	base := "/v1/orgs/" + f.org

	// Created with the admin's key bound to the organization.
	_, k, _ := apiCall(t, "POST", s.URL+"/user/keys", basicHeader(admin.user.Username, "a-long-enough-password"), `{"handle":"flow","org_id":"`+f.org+`"}`)
	status, body, h := apiCall(t, "POST", s.URL+base+"/invitations", "Bearer "+k["key"].(string), `{"role":"admin","email":"new@example.com"}`)
	token, _ := body["token"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(token, "lki_") || body["url"] != s.URL+"/invitations/"+token ||
		body["role"] != "admin" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("create invitation: %d %v %v", status, body, h)
	}
	status, body = f.call(t, admin, "POST", base+"/invitations", `{"role":"owner"}`)
	expect(t, "admin invites an owner", status, body, 403, "forbidden", "This action needs the owner role in this organization.")
	status, body = f.call(t, admin, "POST", base+"/invitations", `{"role":"boss"}`)
	expect(t, "unknown role", status, body, 400, "invalid_request", "role")
	status, body = f.call(t, admin, "POST", base+"/invitations", `{"role":"member","email":"not an address"}`)
	expect(t, "bad email", status, body, 400, "invalid_request", "email")
	status, body = f.call(t, admin, "GET", base+"/invitations", "")
	if invs, _ := body["invitations"].([]any); status != 200 || len(invs) != 2 || strings.Contains(fmt.Sprint(body), token) {
		t.Errorf("list invitations: %d %v (want 2, never a token)", status, body)
	}

	status, body = f.call(t, outsider, "POST", "/v1/invitations/accept", `{"token":"`+token+`"}`)
	if status != 200 || body["id"] != f.org || body["role"] != "admin" {
		t.Fatalf("accept: %d %v", status, body)
	}
	status, body = f.call(t, member, "POST", "/v1/invitations/accept", `{"token":"`+token+`"}`)
	expect(t, "accept a used invitation", status, body, 409, "conflict", "already used or has expired")
	status, body = f.call(t, member, "POST", "/v1/invitations/accept", `{"token":"lki_guessed"}`)
	expect(t, "accept a guessed token", status, body, 404, "not_found", "")
	status, body = f.call(t, member, "POST", "/v1/invitations/accept", `{}`)
	expect(t, "accept without token", status, body, 400, "invalid_request", "token")

	status, body = f.call(t, owner, "POST", base+"/leave", "")
	expect(t, "last owner leaves", status, body, 409, "conflict", "at least one owner")
	status, body = f.call(t, owner, "DELETE", base+"/members/"+owner.user.ID, "")
	expect(t, "last owner removes themselves", status, body, 409, "conflict", "at least one owner")
	status, body = f.call(t, owner, "PATCH", base+"/members/"+owner.user.ID, `{"role":"admin"}`)
	expect(t, "last owner demoted", status, body, 409, "conflict", "at least one owner")
	status, body = f.call(t, admin, "PATCH", base+"/members/"+p.target.user.ID, `{"role":"owner"}`)
	expect(t, "admin makes an owner", status, body, 403, "forbidden", "This action needs the owner role in this organization.")
	status, body = f.call(t, owner, "POST", base+"/transfer", `{"user_id":"`+admin.user.ID+`"}`)
	expect(t, "transfer", status, body, 204, "", "")
	status, body = f.call(t, owner, "GET", base, "")
	if status != 200 || body["role"] != "admin" {
		t.Errorf("after the transfer the old owner is %v (%d)", body["role"], status)
	}
	status, body = f.call(t, owner, "POST", base+"/leave", "")
	expect(t, "a former owner leaves", status, body, 204, "", "")
	status, body = f.call(t, owner, "GET", base, "")
	expect(t, "after leaving", status, body, 404, "not_found", "")

	// Grants: the target member reaches the tenant only while granted.
	tenants := func() string {
		_, b := f.call(t, p.target, "GET", base+"/tenants", "")
		out, _ := json.Marshal(b["tenants"])
		return string(out)
	}
	if got := tenants(); got != "[]" {
		t.Errorf("tenants before a grant: %s", got)
	}
	status, body = f.call(t, admin, "PUT", base+"/tenants/"+f.tenant+"/grants/"+p.target.user.ID, `{"role":"read-write"}`)
	if status != 200 || body["role"] != "read-write" {
		t.Fatalf("grant: %d %v", status, body)
	}
	if got, want := tenants(), fmt.Sprintf(`[{"id":%q,"name":"production","role":"read-write"}]`, f.tenant); got != want {
		t.Errorf("tenants with a grant: %s, want %s", got, want)
	}
	status, body = f.call(t, admin, "PUT", base+"/tenants/"+f.tenant+"/grants/"+p.target.user.ID, `{"role":"write"}`)
	expect(t, "bad tenant role", status, body, 400, "invalid_request", "role")
	status, body = f.call(t, admin, "DELETE", base+"/tenants/"+f.tenant+"/grants/"+p.target.user.ID, "")
	expect(t, "ungrant", status, body, 204, "", "")
	status, body = f.call(t, admin, "DELETE", base+"/tenants/"+f.tenant+"/grants/"+p.target.user.ID, "")
	expect(t, "ungrant again", status, body, 404, "not_found", "")
	status, body = f.call(t, admin, "POST", base+"/tenants", `{"name":"production"}`)
	expect(t, "tenant name taken", status, body, 409, "conflict", "already has a tenant")

	// The audit log, newest first, in pages.
	status, body = f.call(t, admin, "GET", base+"/audit?limit=2", "")
	evs, _ := body["events"].([]any)
	next, _ := body["next_before"].(float64)
	if status != 200 || len(evs) != 2 || next == 0 || evs[0].(map[string]any)["type"] != "tenant.revoked" {
		t.Fatalf("audit page 1: %d %v", status, body)
	}
	status, body = f.call(t, admin, "GET", fmt.Sprintf("%s/audit?limit=200&before=%d", base, int(next)), "")
	if evs2, _ := body["events"].([]any); status != 200 || len(evs2) < 5 || evs2[len(evs2)-1].(map[string]any)["type"] != "org.created" {
		t.Errorf("audit page 2: %d %v", status, body)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "before=-1", "before=x"} {
		status, body = f.call(t, admin, "GET", base+"/audit?"+q, "")
		expect(t, "audit?"+q, status, body, 400, "invalid_request", "")
	}
}

// TestOrgAPIBadInput: malformed, mistyped, oversized and unknown bodies,
// bad names and too-narrow scopes get their 4xx, never a 5xx; on every
// backend.
func TestOrgAPIBadInput(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := orgServer(t, b.Configure)
			p := newOrgPeople(t, s, "bi-")
			f := newRoleOrg(t, s, p, "Bad input")
			owner := p.byRole["owner"]
			base := s.URL + "/v1/orgs/" + f.org
			for _, tc := range []struct {
				name, method, path, ctype, body string
				status                          int
				says                            string
			}{
				{"malformed JSON", "POST", s.URL + "/v1/orgs", "application/json", `{"name":`, 400, "not valid JSON"},
				{"wrong type", "POST", s.URL + "/v1/orgs", "application/json", `{"name":1}`, 400, `"name"`},
				{"unknown field", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"x","owner":"y"}`, 400, "unknown field"},
				{"two objects", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"x"}{"name":"y"}`, 400, "exactly one"},
				{"form body", "POST", s.URL + "/v1/orgs", "application/x-www-form-urlencoded", `name=x`, 415, "application/json"},
				{"no body", "POST", s.URL + "/v1/orgs", "application/json", ``, 400, ""},
				{"huge body", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "larger than"},
				{"NUL in name", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"a\u0000b"}`, 400, ""},
				{"empty name", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"  "}`, 400, "name"},
				{"long name", "POST", s.URL + "/v1/orgs", "application/json", `{"name":"` + strings.Repeat("é", 101) + `"}`, 400, "name"},
				{"control character", "PATCH", base, "application/json", `{"name":"a\u0007b"}`, 400, "name"},
				{"long tenant name", "POST", base + "/tenants", "application/json", `{"name":"` + strings.Repeat("t", 101) + `"}`, 400, "name"},
				{"role of wrong type", "PATCH", base + "/members/" + p.target.user.ID, "application/json", `{"role":["owner"]}`, 400, `"role"`},
				{"transfer without user", "POST", base + "/transfer", "application/json", `{}`, 400, "user_id"},
				{"transfer to oneself", "POST", base + "/transfer", "application/json", `{"user_id":"` + owner.user.ID + `"}`, 400, "user_id"},
				{"long id", "GET", s.URL + "/v1/orgs/" + strings.Repeat("x", 5000), "", "", 404, ""},
				{"percent-encoded id", "GET", s.URL + "/v1/orgs/%27%20OR%201=1", "", "", 404, ""},
			} {
				req, _ := http.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				req.Header.Set("X-CSRF-Token", owner.csrf)
				resp, err := owner.browser.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var m map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				expect(t, tc.name, resp.StatusCode, m, tc.status, "", tc.says)
				if m["error"] == nil || m["message"] == nil {
					t.Errorf("%s: body %v is not {error, message}", tc.name, m)
				}
			}

			// A key bound to the organization carrying org:read only reads,
			// and acts as a member there: no audit log.
			status, body, _ := apiCall(t, "POST", s.URL+"/user/keys", basicHeader(owner.user.Username, "a-long-enough-password"), `{"handle":"ro","scopes":["org:read"],"org_id":"`+f.org+`"}`)
			if status != 201 {
				t.Fatalf("org:read key: %d %v", status, body)
			}
			ro := "Bearer " + body["key"].(string)
			status, body, _ = apiCall(t, "GET", base+"/members", ro, "")
			expect(t, "org:read key reads", status, body, 200, "", "")
			status, body, _ = apiCall(t, "PATCH", base, ro, `{"name":"x"}`)
			expect(t, "org:read key writes", status, body, 403, "insufficient_scope", "org:admin")
			status, body, _ = apiCall(t, "GET", base+"/audit", ro, "")
			expect(t, "org:read key reads the audit log", status, body, 403, "forbidden", "This action needs the admin role in this organization.")
		})
	}
}

// TestOrgAPIInstanceAdmin: only instance administrators list every
// organization, suspend organizations and people and set tiers.
func TestOrgAPIInstanceAdmin(t *testing.T) {
	s := orgServer(t, nil)
	p := newOrgPeople(t, s, "ad-")
	f := newRoleOrg(t, s, p, "Admin")
	hash, err := secret.HashPassword("an-admin-password")
	if err != nil {
		t.Fatal(err)
	}
	root := &storage.User{ID: uuid.NewString(), Username: "root", Email: "root@example.com", PasswordHash: hash, Admin: true}
	if err := s.App.DB().CreateUser(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	s.Login(t, c, "root", "an-admin-password")
	page, err := c.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	op := &orgPerson{user: root, browser: c, csrf: page.Header.Get("X-CSRF-Token")}
	owner := p.byRole["owner"]

	for _, c := range [][2]string{{"GET", "/v1/admin/orgs"}, {"POST", "/v1/admin/orgs/" + f.org + "/suspend"}, {"POST", "/v1/admin/users/" + p.target.user.ID + "/suspend"}} {
		status, body := f.call(t, owner, c[0], c[1], "")
		expect(t, "an organization owner at "+c[1], status, body, 403, "forbidden", "instance administrators")
	}
	status, body := f.call(t, op, "GET", "/v1/admin/orgs?limit=1", "")
	if list, _ := body["orgs"].([]any); status != 200 || len(list) != 1 || body["next_after"] != f.org {
		t.Errorf("admin list: %d %v", status, body)
	}
	status, body = f.call(t, op, "GET", "/v1/admin/orgs?limit=0", "")
	expect(t, "admin list limit=0", status, body, 400, "invalid_request", "limit")
	status, body = f.call(t, op, "POST", "/v1/admin/orgs/"+f.org+"/suspend", "")
	if status != 200 || body["suspended"] != true || body["suspended_at"] == nil {
		t.Errorf("suspend: %d %v", status, body)
	}
	status, body = f.call(t, owner, "GET", "/v1/orgs/"+f.org, "")
	if status != 200 || body["suspended"] != true {
		t.Errorf("a suspended organization to its owner: %d %v", status, body)
	}
	status, body = f.call(t, op, "POST", "/v1/admin/orgs/"+f.org+"/unsuspend", "")
	if status != 200 || body["suspended"] != false {
		t.Errorf("unsuspend: %d %v", status, body)
	}
	status, body = f.call(t, op, "PUT", "/v1/admin/orgs/"+f.org+"/tier", `{"tier":"pro"}`)
	if status != 200 || body["tier"] != "pro" {
		t.Errorf("tier: %d %v", status, body)
	}
	status, body = f.call(t, op, "PUT", "/v1/admin/orgs/"+f.org+"/tier", `{"tier":"gold"}`)
	expect(t, "unknown tier", status, body, 400, "invalid_request", "tier")
	status, body = f.call(t, op, "POST", "/v1/admin/orgs/org_unknown/suspend", "")
	expect(t, "suspend an unknown organization", status, body, 404, "not_found", "")
	status, body = f.call(t, op, "POST", "/v1/admin/users/"+p.target.user.ID+"/suspend", "")
	if status != 200 || body["suspended"] != true {
		t.Errorf("suspend a person: %d %v", status, body)
	}
	if u, _ := s.App.DB().GetUser(context.Background(), p.target.user.ID); u == nil || u.SuspendedAt == nil {
		t.Errorf("the person is not suspended in storage")
	}
	status, body = f.call(t, op, "POST", "/v1/admin/users/"+p.target.user.ID+"/unsuspend", "")
	if status != 200 || body["suspended"] != false {
		t.Errorf("unsuspend a person: %d %v", status, body)
	}
	status, body = f.call(t, op, "POST", "/v1/admin/users/"+root.ID+"/suspend", "")
	expect(t, "suspend oneself", status, body, 409, "conflict", "yourself")
	status, body = f.call(t, op, "POST", "/v1/admin/users/"+uuid.NewString()+"/suspend", "")
	expect(t, "suspend nobody", status, body, 404, "not_found", "")
}

// TestOrgAPISession: the browser session reads organizations and needs
// the CSRF header to change them, like every /v1 route.
func TestOrgAPISession(t *testing.T) {
	s := orgServer(t, nil)
	s.CreateUser(t, "sam", "a-long-enough-password")
	c := flowtest.Browser(t)
	s.Login(t, c, "sam", "a-long-enough-password")
	page, err := c.Get(s.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	send := func(csrf string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL+"/v1/orgs", strings.NewReader(`{"name":"Sam's"}`))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, body := send(""); status != http.StatusForbidden {
		t.Errorf("session without CSRF header: %d %v", status, body)
	}
	if status, body := send(page.Header.Get("X-CSRF-Token")); status != http.StatusCreated || body["role"] != "owner" {
		t.Errorf("session with CSRF header: %d %v", status, body)
	}
	resp, err := c.Get(s.URL + "/v1/orgs")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if list, _ := m["orgs"].([]any); resp.StatusCode != 200 || len(list) != 1 {
		t.Errorf("GET /v1/orgs by session: %d %v", resp.StatusCode, m)
	}
}
