package keys

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

var allScopes = []string{"keys:read", "keys:write", "keys:verify", "users:read"}

// owner is the authority of the owner signed in.
var owner = OwnerAuthority(allScopes)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts digest lookups to prove the cache works.
type countingStore struct {
	*storage.DB
	lookups   atomic.Int64
	idLookups atomic.Int64
}

func (c *countingStore) GetAPIKey(ctx context.Context, id string) (*storage.APIKey, error) {
	c.idLookups.Add(1)
	return c.DB.GetAPIKey(ctx, id)
}

func (c *countingStore) GetAPIKeyByDigest(ctx context.Context, d []byte) (*storage.APIKey, error) {
	c.lookups.Add(1)
	return c.DB.GetAPIKeyByDigest(ctx, d)
}

func newService(t *testing.T, recoverable bool) (*Service, *countingStore, *clock, *[]string) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	haveOwners(t, db)
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{3}, 32)})
	clk := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	var revoked []string
	cfg := Config{Format: NewFormat("lk"), Hasher: h, Scopes: allScopes, Tiers: []string{"free", "pro", "enterprise"},
		CacheTTL: time.Second, Now: clk.now,
		RevokeTokens: func(_ context.Context, id string) error { revoked = append(revoked, id); return nil }}
	if recoverable {
		block, _ := aes.NewCipher(bytes.Repeat([]byte{5}, 32))
		cfg.Sealer, _ = cipher.NewGCM(block)
	}
	cs := &countingStore{DB: db}
	s := New(cfg, cs)
	t.Cleanup(func() { _ = s.Close(context.Background()); _ = db.Close() })
	return s, cs, clk, &revoked
}

func TestCreateAndVerify(t *testing.T) {
	s, cs, clk, _ := newService(t, false)
	ctx := t.Context()
	k, plain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci", Alias: "CI", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Format().Looks(plain) || k.Display != plain[:len("lk_live_")+4] || len(k.Digest) != 32 || k.Sealed != nil {
		t.Fatalf("created %+v from %q", k, plain)
	}
	if len(k.Scopes) != len(allScopes) {
		t.Fatalf("a key without scopes gets its owner's rights: %v", k.Scopes)
	}
	if _, err := s.Verify(ctx, plain, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := s.Verify(ctx, plain, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for 51 verifications within the TTL, want 1", n)
	}
	bad := plain[:len(plain)-1] + "0"
	if bad == plain {
		bad = plain[:len(plain)-1] + "1"
	}
	if _, err := s.Verify(ctx, bad, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad checksum: %v", err)
	}
	if n := cs.lookups.Load(); n != 1 {
		t.Fatal("a key with a bad checksum reached the database")
	}
	other, _ := NewFormat("lk").New(EnvLive)
	for i := 0; i < 3; i++ {
		if _, err := s.Verify(ctx, other, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := cs.lookups.Load(); n != 2 {
		t.Fatalf("negative cache: %d lookups, want 2", n)
	}
	clk.add(time.Hour)
	if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.GetAPIKey(ctx, k.ID)
	if got.UsageCount != 51 || got.LastUsedAt == nil {
		t.Fatalf("usage %d last %v, want 51 uses flushed in a batch", got.UsageCount, got.LastUsedAt)
	}
	ev, _ := s.Events(ctx, k.ID)
	if len(ev) != 2 || ev[0].Type != "new_ip" || ev[1].Type != "created" {
		t.Fatalf("audit %+v", ev)
	}
}

func TestCreateRejects(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "dup"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		caller []string
		req    CreateRequest
		want   error
	}{
		{"duplicate handle", allScopes, CreateRequest{Handle: "dup"}, ErrConflict},
		{"empty handle", allScopes, CreateRequest{}, ErrInvalid},
		{"handle with space", allScopes, CreateRequest{Handle: "a b"}, ErrInvalid},
		{"unicode handle", allScopes, CreateRequest{Handle: "ключ"}, ErrInvalid},
		{"unknown scope", allScopes, CreateRequest{Handle: "x", Scopes: []string{"admin:all"}}, ErrInvalid},
		{"beyond caller", []string{"keys:read"}, CreateRequest{Handle: "x", Scopes: []string{"keys:write"}}, ErrScopeExceeded},
		{"read-write beyond caller", []string{"keys:read"}, CreateRequest{Handle: "x", Scopes: []string{"read-write"}}, ErrScopeExceeded},
		{"bad environment", allScopes, CreateRequest{Handle: "x", Environment: "prod"}, ErrInvalid},
		{"bad tier", allScopes, CreateRequest{Handle: "x", Tier: "platinum"}, ErrInvalid},
		{"negative expiry", allScopes, CreateRequest{Handle: "x", ExpiresIn: -time.Second}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := s.Create(ctx, "u1", Authority{Scopes: tc.caller}, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := s.Create(ctx, "u2", owner, CreateRequest{Handle: "dup"}); err != nil {
		t.Fatalf("handles are unique per user only: %v", err)
	}
	k, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ro", Scopes: []string{"read-only"}, Environment: "test", Tier: "pro"})
	if err != nil || len(k.Scopes) != 2 || k.Scopes[0] != "keys:read" || k.Scopes[1] != "users:read" || k.Environment != "test" || k.Tier != "pro" {
		t.Fatalf("read-only key %+v %v", k, err)
	}
}

func TestRotateRevokeUpdate(t *testing.T) {
	s, _, clk, revoked := newService(t, true)
	ctx := t.Context()
	k, plain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc", Scopes: []string{"keys:read", "users:read"}, Tier: "pro", ExpiresIn: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Reveal(k); err != nil || got != plain {
		t.Fatalf("recoverable key: %q %v", got, err)
	}
	fresh, plain2, err := s.Rotate(ctx, "u1", "svc", owner, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Handle != "svc" || fresh.Tier != "pro" || len(fresh.Scopes) != 2 || !fresh.ExpiresAt.Equal(*k.ExpiresAt) || plain2 == plain {
		t.Fatalf("rotated %+v", fresh)
	}
	if _, err := s.Verify(ctx, plain, ""); err != nil {
		t.Fatalf("old key inside grace: %v", err)
	}
	clk.add(time.Hour)
	if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("old key after grace: %v", err)
	}
	if _, err := s.Verify(ctx, plain2, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Rotate(ctx, "u1", "svc", owner, 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, plain2, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("no-grace rotation must retire at once: %v", err)
	}
	if len(*revoked) != 1 || (*revoked)[0] != fresh.ID {
		t.Fatalf("tokens of the retired key revoked: %v", *revoked)
	}
	if _, err := s.Update(ctx, "u1", "svc", owner, Patch{Scopes: []string{"keys:write"}}); !errors.Is(err, ErrScopeExceeded) {
		t.Fatalf("widening scopes: %v", err)
	}
	alias := "renamed"
	up, err := s.Update(ctx, "u1", "svc", owner, Patch{Alias: &alias, Scopes: []string{"users:read"}})
	if err != nil || up.Alias != "renamed" || len(up.Scopes) != 1 {
		t.Fatalf("update %+v %v", up, err)
	}
	cur, _ := s.Get(ctx, "u1", "svc")
	if _, err := s.Revoke(ctx, "u1", "svc", owner, ""); err != nil {
		t.Fatal(err)
	}
	if cur2, _ := s.Get(ctx, "u1", "svc"); cur2.RevokedAt == nil {
		t.Fatal("not revoked")
	}
	if _, _, err := s.Rotate(ctx, "u1", "svc", owner, 0, ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("rotating a revoked key: %v", err)
	}
	if _, err := s.Revoke(ctx, "u1", "nope", owner, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking a missing key: %v", err)
	}
	if !slices.Contains(*revoked, cur.ID) {
		t.Fatal("revocation did not revoke exchanged tokens")
	}
	keys, _ := s.List(ctx, "u1")
	if len(keys) != 3 {
		t.Fatalf("list: %d keys, want 3 (two retired)", len(keys))
	}
}

func TestVerifyConcurrent(t *testing.T) {
	s, _, _, _ := newService(t, false)
	_, plain, err := s.Create(t.Context(), "u1", owner, CreateRequest{Handle: "c"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var fails atomic.Int64
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if _, err := s.Verify(context.Background(), plain, "10.0.0.2"); err != nil {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Fatalf("%d failures", fails.Load())
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	db, _ := sqlite.Open(filepath.Join(b.TempDir(), "k.db"), 2)
	defer db.Close()
	_ = db.Migrate(context.Background())
	haveOwners(b, db)
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{3}, 32)})
	s := New(Config{Format: NewFormat("lk"), Hasher: h, Scopes: allScopes}, db)
	defer s.Close(context.Background())
	_, plain, _ := s.Create(context.Background(), "u", owner, CreateRequest{Handle: "b"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Verify(context.Background(), plain, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCacheInvalidationFromOtherInstances: a change another instance made
// (the key revoked behind this service's back, then announced through
// Invalidate) is seen at once, and while invalidations may be lost
// (SetListening(false)) every verification reads the database.
func TestCacheInvalidationFromOtherInstances(t *testing.T) {
	s, cs, _, _ := newService(t, false)
	ctx := t.Context()
	k, plain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	otherInstance := func(t *testing.T) { // revokes through storage only
		t.Helper()
		err := cs.DB.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error { now := time.Now(); r.RevokedAt = &now; return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	verify := func(t *testing.T, want error) {
		t.Helper()
		if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, want) {
			t.Fatalf("Verify = %v, want %v", err, want)
		}
	}
	verify(t, nil) // cached now
	otherInstance(t)
	verify(t, nil) // still cached: nothing told this instance

	s.Invalidate(storage.Invalidation{Topic: storage.TopicUser, ID: hex.EncodeToString(k.Digest)})
	s.Invalidate(storage.Invalidation{Topic: storage.TopicAPIKey, ID: "not hex"})
	verify(t, nil) // other topics and garbage are ignored
	s.Invalidate(storage.Invalidation{Topic: storage.TopicAPIKey, ID: hex.EncodeToString(k.Digest)})
	verify(t, ErrRevoked)

	t.Run("bypassed while not listening", func(t *testing.T) {
		_, plain2, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci2"})
		if err != nil {
			t.Fatal(err)
		}
		s.SetListening(false)
		before := cs.lookups.Load()
		for range 3 {
			if _, err := s.Verify(ctx, plain2, ""); err != nil {
				t.Fatal(err)
			}
		}
		if n := cs.lookups.Load() - before; n != 3 {
			t.Fatalf("%d lookups for 3 verifications while not listening, want 3", n)
		}
		s.SetListening(true)
		for range 3 {
			if _, err := s.Verify(ctx, plain2, ""); err != nil {
				t.Fatal(err)
			}
		}
		if n := cs.lookups.Load() - before; n != 4 {
			t.Fatalf("%d lookups after listening again, want 4 (one fill, then cached)", n)
		}
	})
}

// TestVerifyNoCache checks that NoCache sends every verification of a
// well-formed key to the store, so a change made behind the service's back
// (another instance revoking the key) is seen on the next call.
func TestVerifyNoCache(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	haveOwners(t, db)
	h, _ := secret.NewHasher(1, map[int][]byte{1: bytes.Repeat([]byte{3}, 32)})
	cs := &countingStore{DB: db}
	s := New(Config{Format: NewFormat("lk"), Hasher: h, Scopes: allScopes, NoCache: true}, cs)
	t.Cleanup(func() { _ = s.Close(context.Background()); _ = db.Close() })
	ctx := t.Context()
	k, plain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "nc"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.Verify(ctx, plain, ""); err != nil {
			t.Fatal(err)
		}
	}
	unknown, _ := NewFormat("lk").New(EnvLive)
	for i := 0; i < 3; i++ {
		if _, err := s.Verify(ctx, unknown, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := cs.lookups.Load(); n != 8 {
		t.Fatalf("%d lookups for 8 verifications without a cache, want 8", n)
	}
	// Revoked directly in the store, as another instance would: no cache
	// entry hides it.
	if err := db.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
		now := time.Now()
		r.RevokedAt = &now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, plain, ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation in the store: %v, want ErrRevoked", err)
	}
}

// haveOwners stores the users the tests create keys for (a key is refused
// for a user that does not exist).
func haveOwners(tb testing.TB, db interface {
	CreateUser(context.Context, *storage.User) error
}) {
	tb.Helper()
	for _, id := range []string{"u", "u1", "u2"} {
		if err := db.CreateUser(context.Background(), &storage.User{ID: id, Username: id, PasswordHash: "x"}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestCreateForDeletedOwner: a key created for an account deleted while
// the request ran is refused with ErrOwnerGone (the API answers 401), not
// an internal error, and nothing is stored.
func TestCreateForDeletedOwner(t *testing.T) {
	s, _, _, _ := newService(t, false)
	_, _, err := s.Create(t.Context(), "deleted-meanwhile", owner, CreateRequest{Handle: "late"})
	if !errors.Is(err, ErrOwnerGone) {
		t.Fatalf("Create for a missing owner = %v, want ErrOwnerGone", err)
	}
	if ks, err := s.List(t.Context(), "deleted-meanwhile"); err != nil || len(ks) != 0 {
		t.Errorf("keys stored for the missing owner: %v, %v", ks, err)
	}
}
