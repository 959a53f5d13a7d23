package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// cliJSON runs a command that must succeed with JSON on stdout and
// nothing on stderr, and decodes the answer.
func cliJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != 0 || errs != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: output %q is not JSON: %v", args, out, err)
	}
	return m
}

// migrateQuietly creates the schema, so the commands after it log nothing.
func migrateQuietly(t *testing.T) {
	t.Helper()
	if code, _, errs := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
}

// TestCLIOrgs: an operator creates an organization with its owner, lists
// organizations, adds members, suspends and reinstates an organization and
// a person, and registers an organization's app — JSON out, stderr quiet.
func TestCLIOrgs(t *testing.T) {
	cliEnv(t)
	migrateQuietly(t)
	owner := cliJSON(t, "user", "create", "--username", "ada", "--password", "a-long-password-1")
	cliJSON(t, "user", "create", "--username", "bob", "--password", "a-long-password-1")

	o := cliJSON(t, "org", "create", "--name", "Acme", "--owner", "ada")
	id, _ := o["id"].(string)
	if !strings.HasPrefix(id, "org_") || o["name"] != "Acme" || o["owner"] != "ada" || o["suspended"] != false {
		t.Fatalf("org create: %v", o)
	}
	list := cliJSON(t, "org", "list")
	if orgs, _ := list["orgs"].([]any); len(orgs) != 1 || orgs[0].(map[string]any)["id"] != id {
		t.Fatalf("org list: %v", list)
	}
	if code, out, errs := runCLI(t, "org", "list", "-o", "table"); code != 0 || errs != "" || !strings.Contains(out, id) || !strings.HasPrefix(out, "ID") {
		t.Fatalf("org list -o table: %d %q %q", code, out, errs)
	}
	m := cliJSON(t, "org", "add-member", "--org", id, "--username", "bob", "--role", "Admin")
	if m["role"] != "admin" || m["username"] != "bob" || m["org_id"] != id {
		t.Fatalf("org add-member: %v", m)
	}
	if s := cliJSON(t, "org", "suspend", "--org", id); s["suspended"] != true {
		t.Fatalf("org suspend: %v", s)
	}
	if s := cliJSON(t, "org", "suspend", "--org", id, "--off"); s["suspended"] != false {
		t.Fatalf("org suspend --off: %v", s)
	}
	if s := cliJSON(t, "user", "suspend", "--username", "bob"); s["suspended"] != true || s["username"] != "bob" {
		t.Fatalf("user suspend: %v", s)
	}
	if s := cliJSON(t, "user", "suspend", "--username", "bob", "--off"); s["suspended"] != false {
		t.Fatalf("user suspend --off: %v", s)
	}
	c := cliJSON(t, "client", "create", "--name", "Acme CI", "--org", id, "--owner", owner["id"].(string), "--redirect-uri", "https://ci.example/cb")
	if c["org_id"] != id {
		t.Fatalf("client create --org: %v", c)
	}
}

// TestCLIOrgsBadInput: missing flags, unknown roles and bad text are usage
// errors (exit 2); unknown organizations and people, duplicate members and
// an app owner outside the organization are refusals (exit 1); stdout
// stays empty and the refusal says why.
func TestCLIOrgsBadInput(t *testing.T) {
	cliEnv(t)
	migrateQuietly(t)
	cliJSON(t, "user", "create", "--username", "ada", "--password", "a-long-password-1")
	stranger := cliJSON(t, "user", "create", "--username", "eve", "--password", "a-long-password-1")
	id := cliJSON(t, "org", "create", "--name", "Acme", "--owner", "ada")["id"].(string)
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"create without owner", []string{"org", "create", "--name", "Acme"}, 2, "--name and --owner are required"},
		{"create with an empty name", []string{"org", "create", "--name", " ", "--owner", "ada"}, 2, "name is required"},
		{"create with a long name", []string{"org", "create", "--name", strings.Repeat("n", 101), "--owner", "ada"}, 2, "at most 100 characters"},
		{"create with NUL", []string{"org", "create", "--name", "Ac\x00me", "--owner", "ada"}, 2, "--name holds a NUL byte"},
		{"create for nobody", []string{"org", "create", "--name", "Acme", "--owner", "nobody"}, 1, `no user is named "nobody"`},
		{"list with arguments", []string{"org", "list", "extra"}, 2, "unknown command"},
		{"add-member without role", []string{"org", "add-member", "--org", id, "--username", "eve"}, 2, "are required"},
		{"add-member with a bad role", []string{"org", "add-member", "--org", id, "--username", "eve", "--role", "god"}, 2, "--role must be one of"},
		{"add-member to no org", []string{"org", "add-member", "--org", "org_nope", "--username", "eve", "--role", "member"}, 1, `no organization has the id "org_nope"`},
		{"add-member twice", []string{"org", "add-member", "--org", id, "--username", "ada", "--role", "member"}, 1, "already a member"},
		{"suspend without org", []string{"org", "suspend"}, 2, "--org is required"},
		{"suspend no org", []string{"org", "suspend", "--org", "org_nope"}, 1, "no organization has the id"},
		{"user suspend nobody", []string{"user", "suspend", "--username", "nobody"}, 1, `no user is named "nobody"`},
		{"user suspend without username", []string{"user", "suspend"}, 2, "--username is required"},
		{"client for no org", []string{"client", "create", "--name", "X", "--org", "org_nope", "--redirect-uri", "https://x.example/cb"}, 1, "no organization has the id"},
		{"client owner outside the org", []string{"client", "create", "--name", "X", "--org", id, "--owner", stranger["id"].(string), "--redirect-uri", "https://x.example/cb"}, 1, "is not a member of"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errs, tc.says) {
			t.Errorf("%s: exit %d (want %d), stdout %q, stderr %q (want %q)", tc.name, code, tc.code, out, errs, tc.says)
		}
	}
	// Nothing of the refused commands was stored.
	if orgs, _ := cliJSON(t, "org", "list")["orgs"].([]any); len(orgs) != 1 {
		t.Errorf("orgs after the refusals: %v", orgs)
	}
}
