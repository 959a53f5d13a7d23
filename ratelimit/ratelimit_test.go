package ratelimit

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is an injectable clock for exactness tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	free       = Tier{Name: "free", PerHour: 1000, Burst: 50}
	pro        = Tier{Name: "pro", PerHour: 10000, Burst: 200}
	enterprise = Tier{Name: "enterprise", PerHour: 0, Burst: 1000}
)

func mustAllow(t *testing.T, l Limiter, key string, tier Tier) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, tier)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSeedExample(t *testing.T) {
	l := NewMemory(newClock().Now)
	d := mustAllow(t, l, "k", free)
	h := http.Header{}
	d.SetHeaders(h)
	if h.Get("X-RateLimit-Limit") != "1000" || h.Get("X-RateLimit-Remaining") != "999" {
		t.Fatalf("headers %v, want Limit 1000 Remaining 999", h)
	}
}

// TestBurstExact: from idle, requests back-to-back count down by one each,
// Available is 0 exactly when refusals start, and the (limit+1)th is refused.
func TestBurstExact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tier  Tier
		first int // requests allowed back-to-back: min(H, B), or B when unlimited
		retry time.Duration
	}{
		{"free", free, 50, 20 * time.Millisecond},
		{"pro", pro, 200, 5 * time.Millisecond},
		{"enterprise", enterprise, 1000, time.Millisecond},
		{"quota binds first", Tier{Name: "t", PerHour: 5, Burst: 50}, 5, 720 * time.Second},
		{"equal", Tier{Name: "t", PerHour: 10, Burst: 10}, 10, 360 * time.Second},
		{"burst one", Tier{Name: "t", PerHour: 3600, Burst: 1}, 1, time.Second},
		{"per minute", Tier{Name: "t", Burst: 3, BurstWindow: time.Minute}, 3, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			l := NewMemory(clk.Now)
			limit := tc.tier.PerHour
			if limit == 0 {
				limit = tc.tier.Burst
			}
			for i := 1; i <= tc.first; i++ {
				d := mustAllow(t, l, "k", tc.tier)
				if !d.Allowed {
					t.Fatalf("request %d refused", i)
				}
				if d.Remaining != limit-i {
					t.Fatalf("request %d: Remaining %d, want %d", i, d.Remaining, limit-i)
				}
				if d.Available() != tc.first-i {
					t.Fatalf("request %d: Available %d, want %d", i, d.Available(), tc.first-i)
				}
			}
			d := mustAllow(t, l, "k", tc.tier)
			if d.Allowed || d.Available() != 0 {
				t.Fatalf("request %d: allowed %v available %d, want refused with 0", tc.first+1, d.Allowed, d.Available())
			}
			if d.RetryAfter != tc.retry {
				t.Fatalf("RetryAfter %v, want %v", d.RetryAfter, tc.retry)
			}
			if want := int64((tc.retry + time.Second - 1) / time.Second); d.RetryAfterSeconds() != want {
				t.Fatalf("Retry-After %d, want %d", d.RetryAfterSeconds(), want)
			}
			// Refusals spend nothing: one microsecond early is still refused,
			// exactly RetryAfter later one request is allowed.
			clk.Add(tc.retry - time.Microsecond)
			if d := mustAllow(t, l, "k", tc.tier); d.Allowed {
				t.Fatal("allowed 1µs before Retry-After")
			}
			clk.Add(time.Microsecond)
			if d := mustAllow(t, l, "k", tc.tier); !d.Allowed {
				t.Fatal("refused at Retry-After")
			}
		})
	}
}

// TestQuotaRemainingZeroAtRefusal: with bursts spread out so only the quota
// binds, X-RateLimit-Remaining reaches 0 on the last allowed request.
func TestQuotaRemainingZeroAtRefusal(t *testing.T) {
	tier := Tier{Name: "t", PerHour: 100, Burst: 10}
	clk := newClock()
	l := NewMemory(clk.Now)
	allowed := 0
	for i := 0; i < 10; i++ { // ten bursts of ten, one second apart
		for j := 0; j < 10; j++ {
			d := mustAllow(t, l, "k", tier)
			if !d.Allowed {
				t.Fatalf("burst %d request %d refused", i, j)
			}
			allowed++
		}
		clk.Add(time.Second)
	}
	d, _ := l.Peek(context.Background(), "k", tier)
	// 9 s have passed: 9s/36s of a request has refilled, nothing whole.
	if d.Remaining != 0 || d.Allowed {
		t.Fatalf("after %d: Remaining %d allowed %v, want 0 and refused", allowed, d.Remaining, d.Allowed)
	}
	if d.RetryAfter != 36*time.Second-10*time.Second {
		t.Fatalf("RetryAfter %v", d.RetryAfter)
	}
}

func TestResetToTheSecond(t *testing.T) {
	clk := newClock()
	clk.Add(300 * time.Millisecond)
	l := NewMemory(clk.Now)
	d := mustAllow(t, l, "k", free) // TAT = now + 3.6 s
	if got, want := d.ResetUnix(), int64(1_800_000_000+4); got != want {
		t.Fatalf("Reset %d, want %d", got, want)
	}
	for range 9 {
		d = mustAllow(t, l, "k", free)
	}
	// Ten requests: full again 36 s after the first, at …000.3 + 36 → ceil …037.
	if got, want := d.ResetUnix(), int64(1_800_000_000+37); got != want {
		t.Fatalf("Reset %d, want %d", got, want)
	}
	h := http.Header{}
	d.SetHeaders(h)
	want := map[string]string{
		"X-RateLimit-Limit":     "1000",
		"X-RateLimit-Remaining": "990",
		"X-RateLimit-Reset":     "1800000037",
		"RateLimit-Policy":      `"free";q=1000;w=3600, "free-burst";q=50;w=1`,
		"RateLimit":             `"free";r=990;t=36, "free-burst";r=40;t=1`,
		"Retry-After":           "",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestEnterpriseHeaders(t *testing.T) {
	l := NewMemory(newClock().Now)
	d := mustAllow(t, l, "k", enterprise)
	h := http.Header{}
	d.SetHeaders(h)
	for k, v := range map[string]string{
		"X-RateLimit-Limit":     "1000",
		"X-RateLimit-Remaining": "999",
		"X-RateLimit-Reset":     "1800000001",
		"RateLimit-Policy":      `"enterprise-burst";q=1000;w=1`,
		"RateLimit":             `"enterprise-burst";r=999;t=1`,
	} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestRefusalHeadersAndMessage(t *testing.T) {
	tier := Tier{Name: "tiny", PerHour: 3, Burst: 3}
	l := NewMemory(newClock().Now)
	for range 3 {
		mustAllow(t, l, "k", tier)
	}
	d := mustAllow(t, l, "k", tier)
	h := http.Header{}
	d.SetHeaders(h)
	if h.Get("Retry-After") != "1200" || d.Message() != "Rate limit exceeded. Try again in 1200 seconds." {
		t.Fatalf("Retry-After %q message %q", h.Get("Retry-After"), d.Message())
	}
	if h.Get("X-RateLimit-Remaining") != "0" || h.Get("RateLimit") != `"tiny";r=0;t=3600, "tiny-burst";r=0;t=1` {
		t.Fatalf("headers %v", h)
	}
}

// TestRefillRate: an exhausted key regains exactly one request per 1h/H.
func TestRefillRate(t *testing.T) {
	tier := Tier{Name: "t", PerHour: 10, Burst: 10}
	clk := newClock()
	l := NewMemory(clk.Now)
	for range 10 {
		mustAllow(t, l, "k", tier)
	}
	for i := range 10 {
		clk.Add(360*time.Second - time.Microsecond)
		if mustAllow(t, l, "k", tier).Allowed {
			t.Fatalf("period %d: allowed early", i)
		}
		clk.Add(time.Microsecond)
		if d := mustAllow(t, l, "k", tier); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("period %d: allowed %v remaining %d", i, d.Allowed, d.Remaining)
		}
	}
	clk.Add(time.Hour)
	d, _ := l.Peek(context.Background(), "k", tier)
	if d.Remaining != 10 || !d.Reset.Equal(clk.Now()) {
		t.Fatalf("after an idle hour: Remaining %d Reset %v", d.Remaining, d.Reset)
	}
	// Burst refill: free tier regains its 50 in exactly one second.
	l2 := NewMemory(clk.Now)
	for range 50 {
		mustAllow(t, l2, "k", free)
	}
	clk.Add(time.Second)
	d, _ = l2.Peek(context.Background(), "k", free)
	if d.BurstRemaining != 50 || d.Remaining != 950 {
		t.Fatalf("burst %d quota %d after 1s", d.BurstRemaining, d.Remaining)
	}
}

func TestPeekDoesNotSpend(t *testing.T) {
	l := NewMemory(newClock().Now)
	ctx := context.Background()
	for range 3 {
		d, err := l.Peek(ctx, "k", free)
		if err != nil || !d.Allowed || d.Remaining != 1000 || d.BurstRemaining != 50 {
			t.Fatalf("peek %+v %v", d, err)
		}
	}
	mustAllow(t, l, "k", free)
	if d, _ := l.Peek(ctx, "k", free); d.Remaining != 999 {
		t.Fatalf("peek after one request: %d", d.Remaining)
	}
	if l.Len() != 1 {
		t.Fatalf("Len %d", l.Len())
	}
}

func TestKeysAreIndependent(t *testing.T) {
	l := NewMemory(newClock().Now)
	tier := Tier{Name: "t", PerHour: 1, Burst: 1}
	if !mustAllow(t, l, "a", tier).Allowed || !mustAllow(t, l, "b", tier).Allowed || mustAllow(t, l, "a", tier).Allowed {
		t.Fatal("keys share state")
	}
}

// TestConcurrentNoLostUpdates: 64 goroutines on one key get exactly the budget.
func TestConcurrentNoLostUpdates(t *testing.T) {
	tier := Tier{Name: "t", PerHour: 1000, Burst: 500}
	l := NewMemory(newClock().Now) // frozen clock: nothing refills
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				if mustAllow(t, l, "k", tier).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 500 {
		t.Fatalf("allowed %d, want exactly 500", allowed.Load())
	}
}

// TestEviction: idle keys are forgotten, so memory is bounded by the keys
// active within the last hour.
func TestEviction(t *testing.T) {
	clk := newClock()
	l := NewMemory(clk.Now)
	for i := range 10000 {
		mustAllow(t, l, string(rune('a'+i%26))+time.Duration(i).String(), free)
	}
	if l.Len() != 10000 {
		t.Fatalf("Len %d", l.Len())
	}
	clk.Add(time.Hour)
	for i := range 20000 {
		mustAllow(t, l, "new"+time.Duration(i).String(), free)
	}
	if n := l.Len(); n > 20000+memoryShards*64 {
		t.Fatalf("Len %d after the old keys went idle", n)
	}
}
