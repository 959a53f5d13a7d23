package keys

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// cache holds verification lookups by digest for a short TTL, including
// negative entries (nil) for unknown keys, so a flood of made-up keys that
// pass the checksum costs one query per key per TTL. Revoke, rotate and
// update invalidate explicitly; the TTL bounds staleness for changes made
// by other instances.
type cache struct {
	mu      sync.RWMutex
	ttl     time.Duration
	now     func() time.Time
	entries map[string]cacheEntry
	max     int
	// hits and misses count get's answers (Service.CacheStats).
	hits, misses atomic.Uint64
}

type cacheEntry struct {
	key *storage.APIKey // nil = known not to exist
	at  time.Time
}

func newCache(ttl time.Duration, now func() time.Time) *cache {
	return &cache{ttl: ttl, now: now, entries: map[string]cacheEntry{}, max: 100_000}
}

func (c *cache) get(digest []byte) (*storage.APIKey, bool) {
	c.mu.RLock()
	e, ok := c.entries[string(digest)]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.ttl {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return e.key, true
}

func (c *cache) put(digest []byte, k *storage.APIKey) {
	now := c.now()
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for d, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, d)
			}
		}
		if len(c.entries) >= c.max {
			c.entries = map[string]cacheEntry{}
		}
	}
	c.entries[string(digest)] = cacheEntry{key: k, at: now}
	c.mu.Unlock()
}

func (c *cache) invalidate(digest []byte) {
	c.mu.Lock()
	delete(c.entries, string(digest))
	c.mu.Unlock()
}
