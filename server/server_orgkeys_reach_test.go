package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// TestKeyRoutesStayInTheCredentialsReach: the /user/keys routes used with
// a credential that reaches one place only (an organization key, a key
// outside organizations, a key narrowed to some tenants) act on the keys
// of that place only: rotating, changing, revoking or listing a key bound
// elsewhere, or minting one that reaches further, would hand the caller
// a secret or rights beyond its own (SPEC §3.3a).
func TestKeyRoutesStayInTheCredentialsReach(t *testing.T) {
	f := newOrgFixture(t)
	u := f.s.URL
	orgKey := "Bearer " + f.key(t, "alice", `{"handle":"in-acme","scopes":["read-write"]}`)["key"].(string)
	narrow := "Bearer " + f.key(t, "alice", fmt.Sprintf(`{"handle":"narrow","tenants":[%q],"scopes":["read-write"]}`, f.tenantA))["key"].(string)
	code, plain, _ := apiCall(t, "POST", u+"/user/keys", f.pw["alice"], `{"handle":"plain","scopes":["read-write"]}`)
	if code != 201 {
		t.Fatal(plain)
	}
	plainKey := "Bearer " + plain["key"].(string)
	code, victim, _ := apiCall(t, "POST", u+"/user/keys", f.pw["alice"], `{"handle":"personal-victim","scopes":["read-only"]}`)
	if code != 201 {
		t.Fatal(victim)
	}
	f.key(t, "alice", `{"handle":"acme-victim","scopes":["read-only"]}`)
	wsB := f.key(t, "alice", fmt.Sprintf(`{"handle":"ws-b-victim","kind":"workspace","tenant_id":%q,"scopes":["read-only"]}`, f.tenantB))["id"].(string)

	refused := []struct{ name, auth, method, path, body string }{
		{"org key rotates a personal key", orgKey, "POST", "/user/keys/personal-victim/rotate", `{}`},
		{"org key revokes a personal key", orgKey, "DELETE", "/user/keys/personal-victim", ""},
		{"org key reads a personal key", orgKey, "GET", "/user/keys/personal-victim", ""},
		{"org key mints a personal key", orgKey, "POST", "/user/keys", `{"handle":"escape"}`},
		{"personal key rotates an org key", plainKey, "POST", "/user/keys/acme-victim/rotate", `{}`},
		{"personal key narrows an org key", plainKey, "PATCH", "/user/keys/acme-victim", `{"alias":"x"}`},
		{"narrowed key rotates an unnarrowed key", narrow, "POST", "/user/keys/acme-victim/rotate", `{}`},
		{"narrowed key revokes a workspace key elsewhere", narrow, "DELETE", "/v1/orgs/" + f.org + "/keys/" + wsB, ""},
		{"narrowed key mints a wider key", narrow, "POST", "/v1/orgs/" + f.org + "/keys", fmt.Sprintf(`{"handle":"wider","tenants":[%q,%q]}`, f.tenantA, f.tenantB)},
		{"narrowed key mints a workspace key elsewhere", narrow, "POST", "/v1/orgs/" + f.org + "/keys", fmt.Sprintf(`{"handle":"ws-b","kind":"workspace","tenant_id":%q}`, f.tenantB)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			code, got, _ := apiCall(t, tc.method, u+tc.path, tc.auth, tc.body)
			if code < 400 || code >= 500 {
				t.Fatalf("%s %s: %d %v", tc.method, tc.path, code, got)
			}
		})
	}
	t.Run("narrowed key mints a key that stays narrowed", func(t *testing.T) {
		code, got, _ := apiCall(t, "POST", u+"/v1/orgs/"+f.org+"/keys", narrow, `{"handle":"child"}`)
		if code != 201 {
			t.Fatalf("%d %v", code, got)
		}
		child := "Bearer " + got["key"].(string)
		code, me, _ := apiCall(t, "GET", u+"/user", child, "")
		if ids := tenantIDs(me["tenants"]); code != 200 || !slices.Equal(ids, []string{f.tenantA}) {
			t.Fatalf("the child of a key narrowed to %s reaches %v", f.tenantA, ids)
		}
	})
	t.Run("lists show the credential's own place only", func(t *testing.T) {
		for auth, want := range map[string][]string{
			orgKey:   {"acme-victim", "child", "in-acme", "narrow"},
			plainKey: {"personal-victim", "plain"},
		} {
			code, got, _ := apiCall(t, "GET", u+"/user/keys", auth, "")
			var handles []string
			for _, k := range got["keys"].([]any) {
				handles = append(handles, k.(map[string]any)["handle"].(string))
			}
			slices.Sort(handles)
			if code != 200 || !slices.Equal(handles, want) {
				t.Errorf("listed %v, want %v", handles, want)
			}
		}
	})
	t.Run("the owner signed in still manages every key", func(t *testing.T) {
		if code, got, _ := apiCall(t, "POST", u+"/user/keys/acme-victim/rotate", f.pw["alice"], `{}`); code != 201 {
			t.Fatalf("%d %v", code, got)
		}
	})
}

// TestTenantListOfANarrowedKey: GET /v1/orgs/{id}/tenants with a key
// answers the tenants the key reaches (its narrowing, its capability),
// not every tenant of its person.
func TestTenantListOfANarrowedKey(t *testing.T) {
	f := newOrgFixture(t)
	narrow := "Bearer " + f.key(t, "alice", fmt.Sprintf(`{"handle":"narrow","tenants":[%q],"scopes":["read-only"]}`, f.tenantA))["key"].(string)
	code, got, _ := apiCall(t, "GET", f.s.URL+"/v1/orgs/"+f.org+"/tenants", narrow, "")
	if code != 200 {
		t.Fatalf("%d %v", code, got)
	}
	ts := got["tenants"].([]any)
	if ids := tenantIDs(got["tenants"]); !slices.Equal(ids, []string{f.tenantA}) || ts[0].(map[string]any)["role"] != "read-only" {
		t.Fatalf("a read-only key narrowed to %s lists %v", f.tenantA, ts)
	}
	code, got, _ = apiCall(t, "GET", f.s.URL+"/v1/orgs/"+f.org+"/tenants", f.pw["alice"], "")
	if ids := tenantIDs(got["tenants"]); code != 200 || len(ids) != 2 {
		t.Fatalf("the owner signed in lists %d %v", code, got)
	}
}

// TestOrgKeyChildKeepsItsCreatorsTier: a key with a tier of its own below
// its organization's cannot mint an organization key that inherits the
// organization's higher tier (keys.Authority: no key of a higher tier
// than the credential creating it).
func TestOrgKeyChildKeepsItsCreatorsTier(t *testing.T) {
	f := newOrgFixture(t)
	db, ctx := f.s.App.DB(), context.Background()
	if err := db.UpdateOrg(ctx, f.org, func(o *storage.Organization) error { o.Tier = "pro"; return nil }); err != nil {
		t.Fatal(err)
	}
	free := "Bearer " + f.key(t, "alice", `{"handle":"free","tier":"free","scopes":["read-write"]}`)["key"].(string)
	limit := func(auth string) string {
		t.Helper()
		_, _, h := apiCall(t, "GET", f.s.URL+"/tokens/test", auth, "")
		return h.Get("X-RateLimit-Limit")
	}
	if got := limit(free); got != "1000" {
		t.Fatalf("the free key's limit %s", got)
	}
	for _, path := range []string{"/v1/orgs/" + f.org + "/keys", "/user/keys"} {
		body := `{"handle":"child-` + strings.ReplaceAll(path, "/", "") + `"`
		if path == "/user/keys" {
			body += `,"org_id":"` + f.org + `"`
		}
		code, got, _ := apiCall(t, "POST", f.s.URL+path, free, body+"}")
		if code != 201 {
			t.Fatalf("%s: %d %v", path, code, got)
		}
		if l := limit("Bearer " + got["key"].(string)); l != "1000" {
			t.Errorf("%s: the free key's child has limit %s (tier %q), want free's 1000", path, l, got["tier"])
		}
	}
	if got := limit("Bearer " + f.key(t, "alice", `{"handle":"signed-in"}`)["key"].(string)); got != "10000" {
		t.Errorf("a key the owner makes signed in inherits the organization's tier: %s", got)
	}
}
