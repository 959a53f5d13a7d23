package storage_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

func openCached(t *testing.T) *storage.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "c.db"), 2, storage.WithReadCache(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestReadCacheInvalidatedAtCommit: a write inside a caller's transaction
// drops the cached record when the transaction commits, so a reader that
// cached the old row meanwhile does not keep it for the TTL.
func TestReadCacheInvalidatedAtCommit(t *testing.T) {
	db := openCached(t)
	ctx := t.Context()
	if err := db.CreateClient(ctx, &storage.Client{ID: "c1", Name: "Old"}); err != nil {
		t.Fatal(err)
	}
	name := func() string {
		t.Helper()
		c, err := db.GetClient(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		return c.Name
	}
	for _, commit := range []bool{false, true} {
		txCtx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.UpdateClient(txCtx, "c1", func(c *storage.Client) error { c.Name = "New"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := name(); got != "Old" { // read (and cached) before the commit
			t.Fatalf("before commit: %q", got)
		}
		end := db.Rollback
		if commit {
			end = db.Commit
		}
		if err := end(txCtx); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "Old", true: "New"}[commit]
		if got := name(); got != want {
			t.Fatalf("after commit=%v: %q, want %q", commit, got, want)
		}
	}
}

// TestReadCacheSubscriber: Invalidate and SetListening, as the
// cross-instance listener calls them.
func TestReadCacheSubscriber(t *testing.T) {
	db := openCached(t)
	ctx := t.Context()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", Email: "old@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	email := func() string {
		t.Helper()
		u, err := db.GetUser(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		return u.Email
	}
	behindItsBack := func(v string) { // another instance's write, unannounced
		t.Helper()
		if err := db.Writer().WithContext(context.Background()).Exec("UPDATE users SET email = ? WHERE id = 'u1'", v).Error; err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"first read fills the cache", func() {}, "old@example.com"},
		{"an unannounced change is not seen", func() { behindItsBack("b@example.com") }, "old@example.com"},
		{"another topic's invalidation changes nothing", func() {
			db.Invalidate(storage.Invalidation{Topic: storage.TopicClient, ID: "u1"})
		}, "old@example.com"},
		{"the user's invalidation drops it", func() {
			db.Invalidate(storage.Invalidation{Topic: storage.TopicUser, ID: "u1"})
		}, "b@example.com"},
		{"not listening flushes", func() { behindItsBack("c@example.com"); db.SetListening(false) }, "c@example.com"},
		{"and bypasses", func() { behindItsBack("d@example.com") }, "d@example.com"},
		{"listening again caches again", func() { db.SetListening(true); _ = email(); behindItsBack("e@example.com") }, "d@example.com"},
	}
	for _, st := range steps {
		st.do()
		if got := email(); got != st.want {
			t.Fatalf("%s: email %q, want %q", st.name, got, st.want)
		}
	}
}
