package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/orgs"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// countingOrgStore counts the organization queries behind rights.
type countingOrgStore struct {
	*storage.DB
	n atomic.Int64
}

func (c *countingOrgStore) GetOrg(ctx context.Context, id string) (*storage.Organization, error) {
	c.n.Add(1)
	return c.DB.GetOrg(ctx, id)
}

func (c *countingOrgStore) GetMembership(ctx context.Context, o, u string) (*storage.Membership, error) {
	c.n.Add(1)
	return c.DB.GetMembership(ctx, o, u)
}

// BenchmarkAuthenticateKey measures Authenticate for an API key: without
// organizations (the cost before issue 14), and with rights resolved for
// a key outside organizations, a personal organization key and a
// workspace key. The caches answer every request after the first, so
// the organization queries per request are reported as ~0.
func BenchmarkAuthenticateKey(b *testing.B) {
	ctx := context.Background()
	// The read cache as the server configures it (storage.cache_ttl).
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "b.db"), 4, storage.WithReadCache(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{4}, 32)})
	ks := keys.New(keys.Config{Format: keys.NewFormat("lk"), Hasher: h, Scopes: testScopes}, db)
	cs := &countingOrgStore{DB: db}
	os := orgs.New(orgs.Config{Hasher: h}, cs)
	db.OnChange(ks.Invalidate)
	db.OnChange(os.Invalidate)
	if err := db.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", PasswordHash: "-"}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateOrg(ctx, &storage.Organization{ID: "org_1", Name: "Acme"}, "u1"); err != nil {
		b.Fatal(err)
	}
	tnt := orgs.NewID("tnt")
	if err := db.CreateTenant(ctx, &storage.Tenant{ID: tnt, OrgID: "org_1", Name: "a"}); err != nil {
		b.Fatal(err)
	}
	mk := func(req keys.CreateRequest) string {
		_, plain, err := ks.Create(ctx, "u1", keys.OwnerAuthority(testScopes), req)
		if err != nil {
			b.Fatal(err)
		}
		return plain
	}
	plain := mk(keys.CreateRequest{Handle: "plain"})
	personal := mk(keys.CreateRequest{Handle: "p", OrgID: "org_1"})
	workspace := mk(keys.CreateRequest{Handle: "w", OrgID: "org_1", TenantID: tnt})
	gin.SetMode(gin.TestMode)
	engine := func(o Orgs) *gin.Engine {
		a := New(Config{Keys: ks, Users: db, Orgs: o, Logger: slog.New(slog.DiscardHandler)})
		e := gin.New()
		e.GET("/t", a.Authenticate(), func(c *gin.Context) { c.Status(http.StatusNoContent) })
		return e
	}
	for _, bc := range []struct {
		name string
		o    Orgs
		key  string
	}{
		{"no-orgs", nil, plain},
		{"key-outside-orgs", os, plain},
		{"personal-org-key", os, personal},
		{"workspace-key", os, workspace},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := engine(bc.o)
			req := httptest.NewRequest("GET", "/t", nil)
			req.Header.Set("Authorization", "Bearer "+bc.key)
			before := cs.n.Load()
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(cs.n.Load()-before)/float64(b.N), "orgqueries/op")
		})
	}
}
