package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage/postgres"
)

// postgresService returns a service over a fresh schema of the database
// named by LATCHKEY_TEST_POSTGRES_DSN, or skips the test.
func postgresService(t *testing.T) *Service {
	t.Helper()
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES_DSN not set; skipping the PostgreSQL run")
	}
	admin, err := postgres.Open(dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "lk_keys_" + hex.EncodeToString(b)
	if err := admin.Writer().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.Writer().Exec("DROP SCHEMA " + schema + " CASCADE").Error
		_ = admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := postgres.Open(u.String(), 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	haveOwners(t, db)
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{3}, 32)})
	s := New(Config{Format: NewFormat("lk"), Hasher: h, Scopes: allScopes, CacheTTL: time.Second}, db)
	t.Cleanup(func() { _ = s.Close(context.Background()); _ = db.Close() })
	return s
}

// TestConcurrentRotationsOneWinnerPostgres is TestConcurrentRotationsOneWinner
// on PostgreSQL, where the rotations really run in parallel transactions.
func TestConcurrentRotationsOneWinnerPostgres(t *testing.T) {
	concurrentRotations(t, postgresService(t))
}
