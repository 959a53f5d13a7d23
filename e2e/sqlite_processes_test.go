package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestSQLiteCLIChangesReachTheServer: `latchkey serve` on SQLite caches
// keys, users and organization rights for a minute here, and the CLI — a
// second process on the same file — suspends a person, then an
// organization. The server refuses their keys within a second
// (pushDeadline), which only the invalidation log can make happen
// (storage/sqlite.Poller): the cache entries would live for 60 s.
func TestSQLiteCLIChangesReachTheServer(t *testing.T) {
	e := newEnv(t)
	e["LATCHKEY_STORAGE_CACHE_TTL"] = "60s"
	cli(t, e, "migrate")
	cli(t, e, "user", "create", "--username", "alice", "--password", clusterPass)
	cli(t, e, "user", "create", "--username", "bob", "--password", clusterPass)
	in := start(t, e)

	useTwice := func(t *testing.T, key string) {
		t.Helper()
		for range 2 {
			if s := me(t, in, key); s != http.StatusOK {
				t.Fatalf("key: %d, want 200", s)
			}
		}
	}

	t.Run("user suspended by the CLI", func(t *testing.T) {
		key := createKey(t, in, "alice", "alice-key", nil)
		useTwice(t, key)
		cli(t, e, "user", "suspend", "--username", "alice")
		awaitStatus(t, "user suspended by the CLI", time.Now(), http.StatusUnauthorized, func() int { return me(t, in, key) })
		cli(t, e, "user", "suspend", "--username", "alice", "--off")
		awaitStatus(t, "suspension lifted by the CLI", time.Now(), http.StatusOK, func() int { return me(t, in, key) })
	})

	t.Run("organization suspended by the CLI", func(t *testing.T) {
		status, org, _ := api(t, http.MethodPost, in.URL+"/v1/orgs", asUser("bob"), map[string]any{"name": "Bob's org"})
		orgID, _ := org["id"].(string)
		if status != http.StatusCreated || orgID == "" {
			t.Fatalf("create org: %d %v", status, org)
		}
		key := createKey(t, in, "bob", "bob-org", map[string]any{"org_id": orgID})
		useTwice(t, key)
		cli(t, e, "org", "suspend", "--org", orgID)
		awaitStatus(t, "organization suspended by the CLI", time.Now(), http.StatusUnauthorized, func() int { return me(t, in, key) })
		cli(t, e, "org", "suspend", "--org", orgID, "--off")
		awaitStatus(t, "organization reinstated by the CLI", time.Now(), http.StatusOK, func() int { return me(t, in, key) })
	})
}
