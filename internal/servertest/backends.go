package servertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/config"
)

// PostgresDSNEnv names the PostgreSQL the whole-server suites also run on,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable (.ci/run
// sets it).
const PostgresDSNEnv = "LATCHKEY_TEST_POSTGRES_DSN"

// Backend is a storage backend a whole-server suite runs against:
// Configure points a server's configuration at a fresh, empty database of
// its kind.
type Backend struct {
	Name      string
	Configure func(t testing.TB, c *config.Config)
}

// Backends returns SQLite (the configuration's default, a file in the
// test's data directory) and, when LATCHKEY_TEST_POSTGRES_DSN is set,
// PostgreSQL in a fresh schema per server. PostgreSQL refuses text that
// SQLite stores (NUL bytes, invalid UTF-8), so bad-input suites run on both.
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite", Configure: func(testing.TB, *config.Config) {}}}
	if os.Getenv(PostgresDSNEnv) == "" {
		t.Logf("%s is not set; running on SQLite only", PostgresDSNEnv)
		return bs
	}
	return append(bs, Backend{Name: "postgres", Configure: func(t testing.TB, c *config.Config) {
		c.Storage.DSN = PostgresSchemaDSN(t)
	}})
}

// PostgresSchemaDSN creates a uniquely named schema on the PostgreSQL named
// by LATCHKEY_TEST_POSTGRES_DSN, drops it when t ends, and returns the DSN
// with that schema as its search_path.
func PostgresSchemaDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresDSNEnv)
	admin, err := gorm.Open(gormpg.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", PostgresDSNEnv, err)
	}
	sqlDB, err := admin.DB()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "root_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		_ = sqlDB.Close()
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the server's clean-up, so it runs after the
	// server's pool is closed.
	t.Cleanup(func() {
		defer sqlDB.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresDSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
