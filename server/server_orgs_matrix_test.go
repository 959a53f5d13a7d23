package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/orgs"
)

// matrixRoles are the README matrix's columns after "action" and "id".
var matrixRoles = []string{"owner", "admin", "member", "viewer", "non-member"}

// matrixRow is one row of the README's permission matrix: the action id
// and, per role, "✓", "✗" or "404" (the first word of the cell).
type matrixRow struct {
	action orgs.Action
	cells  map[string]string
}

// readMatrix parses the table under "### Permission matrix" in README.md.
func readMatrix(t *testing.T) []matrixRow {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "### Permission matrix")
	if !ok {
		t.Fatal(`README.md has no "### Permission matrix" section`)
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i]
	}
	var rows []matrixRow
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 2+len(matrixRoles) {
			t.Fatalf("README permission matrix row has %d cells, want %d: %s", len(cells), 2+len(matrixRoles), line)
		}
		if cells[1] == "id" || strings.HasPrefix(cells[1], "---") {
			continue
		}
		r := matrixRow{action: orgs.Action(strings.Trim(cells[1], "`")), cells: map[string]string{}}
		for i, role := range matrixRoles {
			r.cells[role], _, _ = strings.Cut(cells[2+i], " ")
		}
		rows = append(rows, r)
	}
	return rows
}

// matrixPending are actions with no JSON route: the table is still
// checked against orgs.Check; the HTTP part is done where they live.
var matrixPending = map[orgs.Action]string{
	orgs.CreateApp: "no JSON route: the /orgs pages and `latchkey client create --org`",
}

// matrixAction does one action over HTTP as who in a fresh organization
// and reports the status; check, when set, looks at a 2xx answer.
type matrixAction func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any)

var matrixActions = map[orgs.Action]matrixAction{
	orgs.ViewOrg: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "GET", "/v1/orgs/"+f.org, "")
	},
	orgs.RenameOrg: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "PATCH", "/v1/orgs/"+f.org, `{"name":"Renamed"}`)
	},
	orgs.DeleteOrg: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org, "")
	},
	orgs.TransferOwnership: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "POST", "/v1/orgs/"+f.org+"/transfer", `{"user_id":"`+f.people.target.user.ID+`"}`)
	},
	orgs.ViewAudit: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "GET", "/v1/orgs/"+f.org+"/audit", "")
	},
	orgs.ListMembers: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "GET", "/v1/orgs/"+f.org+"/members", "")
	},
	orgs.InviteMember: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "POST", "/v1/orgs/"+f.org+"/invitations", `{"role":"member","email":"new@example.com"}`)
	},
	orgs.ChangeRole: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "PATCH", "/v1/orgs/"+f.org+"/members/"+f.people.target.user.ID, `{"role":"viewer"}`)
	},
	orgs.RemoveMember: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/members/"+f.people.target.user.ID, "")
	},
	orgs.ListInvitations: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "GET", "/v1/orgs/"+f.org+"/invitations", "")
	},
	orgs.CancelInvitation: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/invitations/"+f.invitation, "")
	},
	orgs.ListTenants: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "GET", "/v1/orgs/"+f.org+"/tenants", "")
	},
	orgs.CreateTenant: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "POST", "/v1/orgs/"+f.org+"/tenants", `{"name":"staging"}`)
	},
	orgs.RenameTenant: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "PATCH", "/v1/orgs/"+f.org+"/tenants/"+f.tenant, `{"name":"prod"}`)
	},
	orgs.DeleteTenant: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/tenants/"+f.tenant, "")
	},
	orgs.GrantTenant: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "PUT", "/v1/orgs/"+f.org+"/tenants/"+f.tenant+"/grants/"+f.people.target.user.ID, `{"role":"read-only"}`)
	},
	orgs.ListAllKeys: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		target := f.targetKey(t)
		status, body := f.call(t, who, "GET", "/v1/orgs/"+f.org+"/keys", "")
		return listed(status, body, strings.Contains(fmt.Sprint(body), target))
	},
	orgs.CreatePersonalKey: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "POST", "/v1/orgs/"+f.org+"/keys", `{"handle":"mine"}`)
	},
	orgs.RevokeOthersKey: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/keys/"+f.targetKey(t), "")
	},
	orgs.ManageWorkspaceKey: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		create := func(handle string) (int, map[string]any) {
			return f.call(t, who, "POST", "/v1/orgs/"+f.org+"/keys", `{"handle":"`+handle+`","kind":"workspace","tenant_id":"`+f.tenant+`"}`)
		}
		status, body := create("ws")
		if who == f.people.byRole["member"] {
			// The matrix's footnote: a member manages the workspace keys of
			// a tenant granted read-write, not read-only.
			grant := func(access string) {
				if err := f.s.App.Orgs().Grant(context.Background(), orgs.Actor{UserID: f.people.byRole["owner"].user.ID}, f.org, f.tenant, who.user.ID, orgs.Access(access)); err != nil {
					t.Fatal(err)
				}
			}
			grant("read-only")
			if st, b := create("ws-ro"); st != http.StatusForbidden || b["message"] != "This action needs read-write access to tenant "+f.tenant+"." {
				t.Errorf("member with a read-only grant creates a workspace key: %d %v, want 403", st, b)
			}
			grant("read-write")
			st, b := create("ws-rw")
			if st != http.StatusCreated {
				t.Fatalf("member with a read-write grant creates a workspace key: %d %v", st, b)
			}
			if st, b := f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/keys/"+b["id"].(string), ""); st != http.StatusNoContent {
				t.Errorf("member with a read-write grant revokes a workspace key: %d %v", st, b)
			}
		}
		return status, body
	},
	orgs.ListAllApps: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		app := f.addApp(t)
		status, body := f.call(t, who, "GET", "/v1/orgs/"+f.org+"/apps", "")
		apps, _ := body["apps"].([]any)
		return listed(status, body, len(apps) == 1 && apps[0].(map[string]any)["client_id"] == app)
	},
	orgs.ManageOthersApps: func(t *testing.T, f *roleOrg, who *orgPerson) (int, map[string]any) {
		return f.call(t, who, "DELETE", "/v1/orgs/"+f.org+"/apps/"+f.addApp(t), "")
	},
}

// TestPermissionMatrix is generated from the README's permission matrix:
// every cell agrees with orgs.Check (the one permission table), and for
// every row and role the action is done over HTTP against a real server
// as a person with that role — ✓ succeeds, ✗ answers the documented 403
// body, 404 for people outside the organization.
// listedOwnOnly stands for a 200 listing that left out another member's
// key or app: the "✗ (own only)" cells of the listing rows.
const listedOwnOnly = -200

// listed reports a listing's answer: 200 with another member's item
// (all), listedOwnOnly without it, or the status of a refusal.
func listed(status int, body map[string]any, hasTheirs bool) (int, map[string]any) {
	if status == http.StatusOK && !hasTheirs {
		return listedOwnOnly, body
	}
	return status, body
}

func TestPermissionMatrix(t *testing.T) {
	rows := readMatrix(t)
	var ids []orgs.Action
	for _, r := range rows {
		ids = append(ids, r.action)
	}
	for _, a := range orgs.Actions {
		if !slices.Contains(ids, a) {
			t.Errorf("README permission matrix has no row for %s", a)
		}
	}
	s := orgServer(t, nil)
	people := newOrgPeople(t, s, "pm-")
	for _, r := range rows {
		t.Run(string(r.action), func(t *testing.T) {
			if orgs.MinRole(r.action) == "" {
				t.Fatalf("README names %q, which orgs/permissions.go does not know", r.action)
			}
			for _, role := range matrixRoles {
				want := "404"
				if role != "non-member" {
					want = "✗"
					if orgs.Check(orgs.Role(role), r.action) == nil {
						want = "✓"
					}
				}
				if r.cells[role] != want {
					t.Errorf("README says %s for %s, orgs/permissions.go says %s", r.cells[role], role, want)
				}
			}
			do, ok := matrixActions[r.action]
			if !ok {
				if why, pending := matrixPending[r.action]; pending {
					t.Logf("HTTP part not here: %s", why)
					return
				}
				t.Fatalf("no HTTP request for %s", r.action)
			}
			for _, role := range matrixRoles {
				f := newRoleOrg(t, s, people, "Matrix "+string(r.action)+" "+role)
				status, body := do(t, f, people.byRole[role])
				if status == listedOwnOnly {
					// A listing answers everyone in the organization; ✗
					// means it leaves out what others made.
					if r.cells[role] != "✗" {
						t.Errorf("%s: the listing leaves out another member's item, want all (README says %s)", role, r.cells[role])
					}
					continue
				}
				switch r.cells[role] {
				case "✓":
					if status < 200 || status > 299 {
						t.Errorf("%s: %d %v, want 2xx", role, status, body)
					}
				case "✗":
					msg := "This action needs the " + string(orgs.MinRole(r.action)) + " role in this organization."
					if r.action == orgs.ManageWorkspaceKey {
						msg = "This action needs read-write access to tenant " + f.tenant + "."
					}
					if status != http.StatusForbidden || body["error"] != "forbidden" || body["message"] != msg {
						t.Errorf("%s: %d %v, want 403 forbidden %q", role, status, body, msg)
					}
				case "404":
					if status != http.StatusNotFound || body["error"] != "not_found" {
						t.Errorf("%s: %d %v, want 404 not_found", role, status, body)
					}
				}
			}
		})
	}
}
