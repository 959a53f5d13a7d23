package ttlcache

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

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

func newCache(t *testing.T, ttl time.Duration, max int) (*Cache[string], *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return New[string](ttl, max, clk.now), clk
}

// fill is the read-through protocol every caller follows.
func fill(c *Cache[string], k, v string) {
	if _, ok, t := c.Get(k); !ok {
		c.Put(k, v, t)
	}
}

func TestCache(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *Cache[string], clk *clock)
		want string // "" = miss
	}{
		{"hit within the TTL", func(t *testing.T, c *Cache[string], clk *clock) {
			fill(c, "k", "v1")
			clk.add(59 * time.Second)
		}, "v1"},
		{"miss at the TTL", func(t *testing.T, c *Cache[string], clk *clock) {
			fill(c, "k", "v1")
			clk.add(time.Minute)
		}, ""},
		{"invalidated", func(t *testing.T, c *Cache[string], clk *clock) {
			fill(c, "k", "v1")
			c.Invalidate("k")
		}, ""},
		{"a fill that raced an invalidation is dropped", func(t *testing.T, c *Cache[string], clk *clock) {
			_, _, ticket := c.Get("k") // reader misses and reads the old row ...
			c.Invalidate("k")          // ... the write commits and invalidates ...
			c.Put("k", "old", ticket)  // ... and the old row must not be cached
		}, ""},
		{"an invalidation of another key also drops the racing fill", func(t *testing.T, c *Cache[string], clk *clock) {
			_, _, ticket := c.Get("k")
			c.Invalidate("other")
			c.Put("k", "old", ticket)
		}, ""},
		{"a fill after the invalidation is kept", func(t *testing.T, c *Cache[string], clk *clock) {
			fill(c, "k", "v1")
			c.Invalidate("k")
			fill(c, "k", "v2")
		}, "v2"},
		{"bypass flushes", func(t *testing.T, c *Cache[string], clk *clock) {
			fill(c, "k", "v1")
			c.SetBypass(true)
			c.SetBypass(false)
		}, ""},
		{"bypassed cache stores nothing", func(t *testing.T, c *Cache[string], clk *clock) {
			c.SetBypass(true)
			fill(c, "k", "v1")
			if c.Len() != 0 {
				t.Errorf("Len = %d while bypassed", c.Len())
			}
			c.SetBypass(false)
		}, ""},
		{"a fill begun while bypassed is dropped after resuming", func(t *testing.T, c *Cache[string], clk *clock) {
			c.SetBypass(true)
			_, _, ticket := c.Get("k")
			c.SetBypass(false)
			c.Put("k", "read-while-bypassed", ticket)
		}, ""},
		{"bypassed cache misses even when filled before", func(t *testing.T, c *Cache[string], clk *clock) {
			c.SetBypass(true)
			fill(c, "k", "v1")
		}, ""},
		{"resumed cache fills again", func(t *testing.T, c *Cache[string], clk *clock) {
			c.SetBypass(true)
			c.SetBypass(false)
			fill(c, "k", "v2")
		}, "v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newCache(t, time.Minute, 100)
			tc.run(t, c, clk)
			got, ok, _ := c.Get("k")
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("Get = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestCacheBounded(t *testing.T) {
	c, clk := newCache(t, time.Minute, 10)
	for i := range 10 {
		fill(c, strconv.Itoa(i), "v")
	}
	clk.add(time.Minute) // all expired: the next fill evicts them
	fill(c, "new", "v")
	if c.Len() != 1 {
		t.Fatalf("Len = %d after evicting expired entries, want 1", c.Len())
	}
	for i := range 9 {
		fill(c, "fresh"+strconv.Itoa(i), "v")
	}
	fill(c, "overflow", "v") // none expired: start afresh
	if c.Len() != 1 {
		t.Fatalf("Len = %d after overflow, want 1", c.Len())
	}
	fill(c, "overflow", "v2") // replacing an entry never evicts
	if c.Len() != 1 {
		t.Fatalf("Len = %d after replacing, want 1", c.Len())
	}
}

// TestCacheSweepsExpired: well below max, expired entries still go once
// per TTL, so the cache holds what was used lately (issue 16: a cache that
// kept every key until max grew the heap all through a soak run).
func TestCacheSweepsExpired(t *testing.T) {
	c, clk := newCache(t, time.Minute, 100_000)
	for i := range 100 {
		fill(c, "old"+strconv.Itoa(i), "v")
	}
	clk.add(30 * time.Second)
	for i := range 50 {
		fill(c, "mid"+strconv.Itoa(i), "v")
	}
	if c.Len() != 150 {
		t.Fatalf("Len = %d within one TTL, want 150", c.Len())
	}
	clk.add(30 * time.Second) // the first 100 expire, the 50 are 30 s old
	fill(c, "new", "v")
	if c.Len() != 51 {
		t.Fatalf("Len = %d after a TTL, want 51 (50 live + 1 new)", c.Len())
	}
	for i := range 50 {
		if _, ok, _ := c.Get("mid" + strconv.Itoa(i)); !ok {
			t.Fatalf("live entry mid%d was swept", i)
		}
	}
	clk.add(10 * time.Second) // less than a TTL since the sweep: no sweep
	fill(c, "new2", "v")
	if c.Len() != 52 {
		t.Fatalf("Len = %d, want 52 (sweeps at most once per TTL)", c.Len())
	}
}

func TestSweepExpired(t *testing.T) {
	for _, tc := range []struct {
		name          string
		n, expiredBel int // keys 0..n-1; keys below expiredBel are expired
	}{
		{"none expired", 10, 0},
		{"a few expired: deleted in place", 10, 3},
		{"most expired: copied", 10, 8},
		{"all expired", 10, 10},
		{"empty", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[int]int{}
			for i := range tc.n {
				m[i] = i
			}
			got := SweepExpired(m, func(v int) bool { return v < tc.expiredBel })
			if len(got) != tc.n-tc.expiredBel {
				t.Fatalf("len = %d, want %d", len(got), tc.n-tc.expiredBel)
			}
			for i := tc.expiredBel; i < tc.n; i++ {
				if got[i] != i {
					t.Fatalf("live key %d lost", i)
				}
			}
		})
	}
}

func TestNilCache(t *testing.T) {
	c := New[string](0, 10, nil)
	if c != nil {
		t.Fatal("New with ttl 0 must return nil (no cache)")
	}
	fill(c, "k", "v")
	c.Invalidate("k")
	c.SetBypass(true)
	if _, ok, _ := c.Get("k"); ok || c.Len() != 0 || c.TTL() != 0 {
		t.Fatal("nil cache must always miss")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New[int](time.Minute, 1000, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := strconv.Itoa(i % 50)
				if _, ok, t := c.Get(k); !ok {
					c.Put(k, i, t)
				}
				switch {
				case i%97 == g:
					c.Invalidate(k)
				case i == 250 && g == 0:
					c.SetBypass(true)
					c.SetBypass(false)
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPutSweeping: Put of fresh keys with the clock moving so that a
// sweep runs once per TTL, as in a server reading many distinct keys —
// the sweep's cost spread over the Puts between two sweeps (10,000 here).
func BenchmarkPutSweeping(b *testing.B) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := New[string](time.Second, 1_000_000, clk.now)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	i := 0
	for b.Loop() {
		if i%len(keys) == 0 {
			clk.add(time.Second) // the last round's entries expire
		}
		c.Put(keys[i%len(keys)]+"/"+strconv.Itoa(i/len(keys)), "v", c.Ticket())
		i++
	}
	if c.Len() > 2*len(keys) {
		b.Fatalf("Len = %d: expired entries were not swept", c.Len())
	}
}
