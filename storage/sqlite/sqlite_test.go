package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
	"github.com/latchkey/latchkey/storage/storagetest"
)

// open returns a migrated store over a fresh file in t's temporary
// directory, closed when t ends.
func open(t testing.TB, path string, opts ...storage.Option) *storage.DB {
	t.Helper()
	db := openUnmigrated(t, path, opts...)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// openUnmigrated opens a store over the file at path, closed when t ends.
func openUnmigrated(t testing.TB, path string, opts ...storage.Option) *storage.DB {
	t.Helper()
	db, err := sqlite.Open(path, 4, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// TestMigrations runs the migration suite; every store of one test opens
// the same file, as instances on one host would.
func TestMigrations(t *testing.T) {
	storagetest.RunMigrations(t, func(t *testing.T) func() *storage.DB {
		path := filepath.Join(t.TempDir(), "t.db")
		return func() *storage.DB { return openUnmigrated(t, path) }
	})
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, filepath.Join(t.TempDir(), "t.db"))
	})
}

// TestConformanceWithReadCache runs the suite with the user/client read
// cache on, as `latchkey serve` does: this process's writes must be seen at
// once.
func TestConformanceWithReadCache(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return open(t, filepath.Join(t.TempDir(), "t.db"), storage.WithReadCache(time.Minute))
	})
}

// TestReadsDoNotWaitForWriter holds a write transaction open and checks that
// another goroutine's reads are answered meanwhile (WAL + a separate reader
// pool), and that they see only committed data.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	db := open(t, filepath.Join(t.TempDir(), "t.db"))
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	txCtx, err := db.BeginTx(ctx)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	defer func() { _ = db.Rollback(txCtx) }()
	// The write takes SQLite's write lock; it is held until Commit.
	if err := db.CreateUser(txCtx, &storage.User{ID: "u2", Username: "bob", PasswordHash: "x"}); err != nil {
		t.Fatalf("CreateUser in tx: %v", err)
	}

	type result struct {
		committed, pending error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		_, r.committed = db.GetUser(ctx, "u1")
		_, r.pending = db.GetUser(ctx, "u2")
		done <- r
	}()
	select {
	case r := <-done:
		if r.committed != nil {
			t.Errorf("read of committed user during the write tx: %v", r.committed)
		}
		if !errors.Is(r.pending, storage.ErrNotFound) {
			t.Errorf("read of uncommitted user during the write tx: err = %v, want ErrNotFound", r.pending)
		}
	case <-ctx.Done():
		t.Fatal("a read blocked behind the open write transaction")
	}

	if err := db.Commit(txCtx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := db.GetUser(ctx, "u2"); err != nil {
		t.Errorf("GetUser after commit: %v", err)
	}
}

// TestFileMode checks that the database and its WAL side files, which hold
// password hashes and token records, are readable by the owner only.
func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db := open(t, path)
	if err := db.CreateUser(t.Context(), &storage.User{ID: "u1", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %#o, want 0600", filepath.Base(p), got)
		}
	}
}

// TestPoolsAndCacheStats checks the pools reported for monitoring and the
// read caches' hit and miss counts.
func TestPoolsAndCacheStats(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "t.db"), storage.WithReadCache(time.Minute))
	pools, err := db.Pools()
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || pools["writer"].Stats().MaxOpenConnections != 1 || pools["reader"].Stats().MaxOpenConnections != 4 {
		t.Fatalf("pools %v", pools)
	}

	ctx := t.Context()
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := db.GetUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.GetClient(ctx, "nope"); err == nil {
		t.Fatal("unknown client found")
	}
	// Reads inside a transaction bypass the cache and are not counted.
	if err := db.InTx(ctx, func(ctx context.Context) error { _, err := db.GetUser(ctx, "u1"); return err }); err != nil {
		t.Fatal(err)
	}
	users, clients := db.CacheStats()
	if users != (storage.CacheStats{Hits: 2, Misses: 1}) || clients != (storage.CacheStats{Misses: 1}) {
		t.Fatalf("users %+v clients %+v", users, clients)
	}
	if u, c := open(t, filepath.Join(t.TempDir(), "n.db")).CacheStats(); u != (storage.CacheStats{}) || c != u {
		t.Fatalf("without a read cache: %+v %+v", u, c)
	}
}

// TestGroupCommit runs the group-commit suite on SQLite, where Open turns
// it on.
func TestGroupCommit(t *testing.T) {
	storagetest.RunGroupCommit(t, func(t testing.TB) *storage.DB {
		return open(t, filepath.Join(t.TempDir(), "t.db"))
	})
}

// BenchmarkWrites compares one transaction per token-shaped write with
// group commit, with 1, 8 and 64 concurrent writers:
//
//	go test -run '^$' -bench Writes ./storage/sqlite/
func BenchmarkWrites(b *testing.B) {
	storagetest.BenchmarkWrites(b, func(b testing.TB, group bool) *storage.DB {
		if group {
			return open(b, filepath.Join(b.TempDir(), "b.db"))
		}
		return open(b, filepath.Join(b.TempDir(), "b.db"), storage.WithoutGroupCommit())
	})
}

// TestPreparedWritesWithoutGroupCommit runs writes through the prepared
// INSERT without group commit, outside and inside transactions, while the
// writer's one connection is replaced again and again.
func TestPreparedWritesWithoutGroupCommit(t *testing.T) {
	storagetest.WritesAcrossRecycledConnections(t, open(t, filepath.Join(t.TempDir(), "t.db"), storage.WithoutGroupCommit()))
}
