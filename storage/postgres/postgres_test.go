package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/storagetest"
)

// dsnEnv names the database the suite runs against, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const dsnEnv = "LATCHKEY_TEST_POSTGRES_DSN"

func TestConformance(t *testing.T) {
	admin, dsn := adminDB(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openMigrated(t, freshSchema(t, admin, dsn), 8)
	})
}

// TestMigrations runs the migration suite; every store of one test opens
// its own pool on the same fresh schema, as instances sharing a database do.
func TestMigrations(t *testing.T) {
	admin, dsn := adminDB(t)
	storagetest.RunMigrations(t, func(t *testing.T) func() *storage.DB {
		schemaDSN := freshSchema(t, admin, dsn)
		return func() *storage.DB { return openStore(t, schemaDSN, 8) }
	})
}

// adminDB returns an administrative connection to the database named by
// LATCHKEY_TEST_POSTGRES_DSN and that DSN, or skips the test.
func adminDB(t testing.TB) (*gorm.DB, string) {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES_DSN not set; skipping the PostgreSQL suites")
	}
	admin, err := gorm.Open(gormpg.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("connect to %s: %v", dsnEnv, err)
	}
	adminDB, err := admin.DB()
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(func() { _ = adminDB.Close() })
	return admin, dsn
}

// freshSchema creates a uniquely named schema, drops it when t ends, and
// returns dsn with that schema as its search_path, so every test starts
// empty and runs never see each other's rows.
func freshSchema(t testing.TB, admin *gorm.DB, dsn string) string {
	t.Helper()
	schema := "lk_" + randomHex(t, 8)
	if err := admin.WithContext(t.Context()).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered before any store's clean-up, so it runs after their pools are closed.
	t.Cleanup(func() {
		// t.Context() is already cancelled during clean-up.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(t, dsn, "search_path", schema)
}

// openStore opens an unmigrated store on dsn, closed when t ends.
func openStore(t testing.TB, dsn string, maxOpen int, opts ...storage.Option) *storage.DB {
	t.Helper()
	db, err := postgres.Open(dsn, maxOpen, opts...)
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

// openMigrated opens a store on dsn and migrates it, closed when t ends.
func openMigrated(t testing.TB, dsn string, maxOpen int, opts ...storage.Option) *storage.DB {
	t.Helper()
	db := openStore(t, dsn, maxOpen, opts...)
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// withParam adds a run-time parameter (search_path, application_name) to a
// URL or keyword/value DSN; pgx sends unknown parameters to the server as
// run-time settings.
func withParam(t testing.TB, dsn, name, value string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + name + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", dsnEnv, err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// TestPools checks that PostgreSQL reports its one pool for monitoring.
func TestPools(t *testing.T) {
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES_DSN not set; skipping")
	}
	db, err := postgres.Open(dsn, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pools, err := db.Pools()
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools["primary"] == nil || pools["primary"].Stats().MaxOpenConnections != 8 {
		t.Fatalf("pools %v", pools)
	}
}

// TestGroupCommit runs the group-commit suite on PostgreSQL with group
// commit turned on (it is off there by default: see BENCHMARKS.md).
func TestGroupCommit(t *testing.T) {
	admin, dsn := adminDB(t)
	storagetest.RunGroupCommit(t, func(t testing.TB) *storage.DB {
		return openMigrated(t, freshSchema(t, admin, dsn), 8, storage.WithGroupCommit(0, 0))
	})
}

// BenchmarkWrites compares one transaction per token-shaped write with
// group commit on PostgreSQL (a pool of 16 connections, as `latchkey
// serve` opens by default), with 1, 8 and 64 concurrent writers:
//
//	LATCHKEY_TEST_POSTGRES_DSN=... go test -run '^$' -bench Writes ./storage/postgres/
func BenchmarkWrites(b *testing.B) {
	admin, dsn := adminDB(b)
	storagetest.BenchmarkWrites(b, func(b testing.TB, group bool) *storage.DB {
		var opts []storage.Option
		if group {
			opts = append(opts, storage.WithGroupCommit(0, 0))
		}
		return openMigrated(b, freshSchema(b, admin, dsn), 16, opts...)
	})
}
