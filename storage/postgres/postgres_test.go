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
		return openStore(t, freshSchema(t, admin, dsn), 8)
	})
}

// adminDB connects to the database named by LATCHKEY_TEST_POSTGRES_DSN, or
// skips the test.
func adminDB(t *testing.T) (*gorm.DB, string) {
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
// returns dsn with its search_path set to it, so every store starts empty
// and runs never see each other's rows.
func freshSchema(t *testing.T, admin *gorm.DB, dsn string) string {
	t.Helper()
	schema := "lk_" + randomHex(t, 8)
	if err := admin.WithContext(t.Context()).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Registered first so it runs last, after the stores' pools are closed.
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

// openStore opens and migrates a store on dsn, closed when t ends.
func openStore(t *testing.T, dsn string, maxOpen int, opts ...storage.Option) *storage.DB {
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
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// withParam adds a run-time parameter (search_path, application_name) to a
// URL or keyword/value DSN; pgx sends unknown parameters to the server as
// run-time settings.
func withParam(t *testing.T, dsn, name, value string) string {
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

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
