package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedis returns a client for LATCHKEY_TEST_REDIS_URL and a random key
// prefix, or skips.
func testRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	url := os.Getenv("LATCHKEY_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("LATCHKEY_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis limiter tests")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis at %s: %v", url, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "latchkey-test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return c, prefix
}

func TestRedisExact(t *testing.T) {
	c, prefix := testRedis(t)
	l := NewRedis(c, prefix)
	ctx := t.Context()
	// H = B, so the quota (T = 72 s) binds and timing cannot refill it.
	tier := Tier{Name: "t", PerHour: 50, Burst: 50}
	if d, err := l.Peek(ctx, "k", tier); err != nil || d.Remaining != 50 || !d.Allowed {
		t.Fatalf("peek fresh: %+v %v", d, err)
	}
	for i := 1; i <= 50; i++ {
		d, err := l.Allow(ctx, "k", tier)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed || d.Remaining != 50-i {
			t.Fatalf("request %d: allowed %v remaining %d", i, d.Allowed, d.Remaining)
		}
	}
	d, err := l.Allow(ctx, "k", tier)
	if err != nil || d.Allowed || d.Available() != 0 {
		t.Fatalf("request 51: %+v %v", d, err)
	}
	// The 51st waits for one emission interval after the first request.
	if d.RetryAfter <= 71*time.Second || d.RetryAfter > 72*time.Second || d.RetryAfterSeconds() != 72 {
		t.Fatalf("RetryAfter %v (%d s)", d.RetryAfter, d.RetryAfterSeconds())
	}
	ttl := c.PTTL(ctx, prefix+"k").Val()
	if ttl <= 59*time.Minute || ttl > time.Hour+time.Second {
		t.Fatalf("state TTL %v, want about an hour", ttl)
	}
}

// TestRedisTwoInstances: two clients (two server instances) on one Redis
// enforce one combined budget under concurrent load.
func TestRedisTwoInstances(t *testing.T) {
	c1, prefix := testRedis(t)
	c2 := redis.NewClient(c1.Options())
	t.Cleanup(func() { _ = c2.Close() })
	tier := Tier{Name: "t", PerHour: 2000, Burst: 2000}
	limiters := []Limiter{NewRedis(c1, prefix), NewRedis(c2, prefix)}
	var allowed, attempts atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 64 {
		l := limiters[i%2]
		wg.Go(func() {
			for range 100 {
				d, err := l.Allow(context.Background(), "shared", tier)
				if err != nil {
					t.Error(err)
					return
				}
				attempts.Add(1)
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// The quota refills one request per 1.8 s during the run.
	budget := 2000 + int64(time.Since(start)/(1800*time.Millisecond))
	got := allowed.Load()
	if got < budget*99/100 || got > budget {
		t.Fatalf("allowed %d of %d attempts, budget %d (±1%%)", got, attempts.Load(), budget)
	}
	t.Logf("allowed %d of %d attempts across two clients, budget %d", got, attempts.Load(), budget)
}

func TestRedisUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	_, err := NewRedis(c, "x:").Allow(t.Context(), "k", free)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
}
