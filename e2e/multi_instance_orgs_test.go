package e2e

import (
	"net/http"
	"testing"
	"time"
)

// testOrgsAcrossInstances: the organization changes that take rights away
// — removing a member, revoking a tenant grant, suspending the
// organization — made at A are enforced at B within a second (issue 14),
// although B caches rights for a minute like keys.
func (c *cluster) testOrgsAcrossInstances(t *testing.T) {
	carolID := c.user(t, "org-carol")
	c.user(t, "org-dave")
	cli(t, c.envA, "user", "create", "--username", "org-root", "--password", clusterPass, "--admin")
	status, org, _ := api(t, http.MethodPost, c.A.URL+"/v1/orgs", asUser("alice"), map[string]any{"name": "Cluster org"})
	orgID, _ := org["id"].(string)
	if status != http.StatusCreated || orgID == "" {
		t.Fatalf("create org at A: %d %v", status, org)
	}
	status, tenant, _ := api(t, http.MethodPost, c.A.URL+"/v1/orgs/"+orgID+"/tenants", asUser("alice"), map[string]any{"name": "prod"})
	tenantID, _ := tenant["id"].(string)
	if status != http.StatusCreated || tenantID == "" {
		t.Fatalf("create tenant at A: %d %v", status, tenant)
	}
	join := func(t *testing.T, who string) {
		t.Helper()
		s, inv, _ := api(t, http.MethodPost, c.A.URL+"/v1/orgs/"+orgID+"/invitations", asUser("alice"), map[string]any{"role": "member"})
		tok, _ := inv["token"].(string)
		if s != http.StatusCreated || tok == "" {
			t.Fatalf("invite at A: %d %v", s, inv)
		}
		if s, m, _ := api(t, http.MethodPost, c.B.URL+"/v1/invitations/accept", asUser(who), map[string]any{"token": tok}); s/100 != 2 {
			t.Fatalf("accept at B: %d %v", s, m)
		}
	}
	orgKey := func(t *testing.T, who, handle string) string {
		t.Helper()
		return createKey(t, c.A, who, handle, map[string]any{"org_id": orgID})
	}
	useEverywhere := func(t *testing.T, key string) {
		t.Helper()
		for _, in := range []*instance{c.A, c.B, c.B} {
			if s := me(t, in, key); s != http.StatusOK {
				t.Fatalf("org key at %s: %d, want 200", in.URL, s)
			}
		}
	}

	t.Run("a member removed at A: their key is refused at B within 1s", func(t *testing.T) {
		join(t, "org-carol")
		key := orgKey(t, "org-carol", "carol-org")
		useEverywhere(t, key)
		if s, m, _ := api(t, http.MethodDelete, c.A.URL+"/v1/orgs/"+orgID+"/members/"+carolID, asUser("alice"), nil); s/100 != 2 {
			t.Fatalf("remove at A: %d %v", s, m)
		}
		awaitStatus(t, "member removal", time.Now(), http.StatusUnauthorized, func() int { return me(t, c.B, key) })
	})

	t.Run("an organization suspended at A: its keys are refused at B within 1s", func(t *testing.T) {
		join(t, "org-dave")
		key := orgKey(t, "org-dave", "dave-org")
		useEverywhere(t, key)
		s, m, _ := api(t, http.MethodPost, c.A.URL+"/v1/admin/orgs/"+orgID+"/suspend", asUser("org-root"), nil)
		if s/100 != 2 {
			t.Fatalf("suspend at A: %d %v", s, m)
		}
		awaitStatus(t, "organization suspension", time.Now(), http.StatusUnauthorized, func() int { return me(t, c.B, key) })
		if s, m, _ := api(t, http.MethodPost, c.A.URL+"/v1/admin/orgs/"+orgID+"/unsuspend", asUser("org-root"), nil); s/100 != 2 {
			t.Fatalf("unsuspend at A: %d %v", s, m)
		}
		awaitStatus(t, "organization reinstated", time.Now(), http.StatusOK, func() int { return me(t, c.B, key) })
	})
}
