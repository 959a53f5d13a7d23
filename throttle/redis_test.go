package throttle

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if u == "" {
		t.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis throttle tests")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "latchkey-test:fail:" + hex.EncodeToString(b) + ":"
}

// TestRedisSharedAcrossInstances: two counters on one Redis (two
// instances) add their failures up, block together, and reset together.
func TestRedisSharedAcrossInstances(t *testing.T) {
	c := testRedis(t)
	prefix := uniquePrefix()
	var errs atomic.Int64
	onErr := func(error) { errs.Add(1) }
	a := NewRedis(c, prefix, 3, 2*time.Second, onErr)
	b := NewRedis(c, prefix, 3, 2*time.Second, onErr)

	a.Fail("u:alice", "ip:1")
	b.Fail("u:alice", "ip:1")
	if w := a.Blocked("u:alice"); w != 0 {
		t.Fatalf("blocked after 2 of 3 failures: %v", w)
	}
	a.Fail("u:alice", "ip:1")
	for name, in := range map[string]*Redis{"A": a, "B": b} {
		if w := in.Blocked("u:alice"); w <= 0 || w > 2*time.Second {
			t.Fatalf("instance %s: wait %v after 3 failures spread over two instances, want (0, 2s]", name, w)
		}
		if w := in.Blocked("u:bob", "ip:1"); w <= 0 {
			t.Fatalf("instance %s: the IP must block other usernames too", name)
		}
		if w := in.Blocked("u:bob", "ip:2"); w != 0 {
			t.Fatalf("instance %s: an unrelated username and IP are blocked (%v)", name, w)
		}
	}
	b.Reset("u:alice")
	if w := a.Blocked("u:alice"); w != 0 {
		t.Fatalf("still blocked at A after a reset at B: %v", w)
	}
	// The window ends on Redis's clock.
	deadline := time.Now().Add(5 * time.Second)
	for a.Blocked("ip:1") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("ip:1 still blocked 5 s into a 2 s window")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d Redis errors", n)
	}
	// Another deployment (prefix) on the same Redis is not affected.
	other := NewRedis(c, uniquePrefix(), 1, time.Minute, onErr)
	a.Fail("u:carol")
	if w := other.Blocked("u:carol"); w != 0 {
		t.Fatalf("another prefix sees the failures: %v", w)
	}
}

// TestRedisUnreachableFallsBack: with Redis down every call is decided by
// the local counter and reported, so the throttle still holds per instance.
func TestRedisUnreachableFallsBack(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	var errs atomic.Int64
	r := NewRedis(c, uniquePrefix(), 2, time.Minute, func(error) { errs.Add(1) })
	r.Fail("u:dave")
	if w := r.Blocked("u:dave"); w != 0 {
		t.Fatalf("blocked after 1 of 2 failures: %v", w)
	}
	r.Fail("u:dave")
	if w := r.Blocked("u:dave"); w <= 0 {
		t.Fatal("the local fallback does not block after 2 failures")
	}
	r.Reset("u:dave")
	if w := r.Blocked("u:dave"); w != 0 {
		t.Fatalf("still blocked after a reset: %v", w)
	}
	if n := errs.Load(); n != 6 {
		t.Fatalf("onError called %d times, want 6 (every call)", n)
	}
}
