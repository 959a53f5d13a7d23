package storage

import (
	"sync"
	"sync/atomic"
	"time"
)

// readCache keeps recently read records for a short TTL so hot paths
// (client authentication on every token and introspection request, the
// user behind every key-authenticated call) do not query the database each
// time. Writes made through this DB invalidate their entry at once; the TTL
// bounds how long a change made by another instance can go unseen.
type readCache[T any] struct {
	mu      sync.RWMutex
	ttl     time.Duration
	now     func() time.Time
	entries map[string]cached[T]
	// hits and misses count get's answers (DB.CacheStats).
	hits, misses atomic.Uint64
}

type cached[T any] struct {
	v  T
	at time.Time
}

const readCacheMax = 50_000

func newReadCache[T any](ttl time.Duration, now func() time.Time) *readCache[T] {
	return &readCache[T]{ttl: ttl, now: now, entries: map[string]cached[T]{}}
}

func (c *readCache[T]) get(k string) (T, bool) {
	var zero T
	if c == nil || c.ttl <= 0 {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.ttl {
		c.misses.Add(1)
		return zero, false
	}
	c.hits.Add(1)
	return e.v, true
}

func (c *readCache[T]) put(k string, v T) {
	if c == nil || c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	if len(c.entries) >= readCacheMax {
		for key, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= readCacheMax {
			c.entries = map[string]cached[T]{}
		}
	}
	c.entries[k] = cached[T]{v: v, at: now}
	c.mu.Unlock()
}

func (c *readCache[T]) drop(k string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, k)
	c.mu.Unlock()
}

// CacheStats counts the lookups a read cache answered (Hits) and those
// that went to the database (Misses).
type CacheStats struct {
	Hits, Misses uint64
}

func (c *readCache[T]) stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// CacheStats reports the user and client read caches' lookups since the DB
// was opened (zero when WithReadCache is off). Reads inside transactions
// bypass the caches and are not counted.
func (d *DB) CacheStats() (users, clients CacheStats) {
	return d.users.stats(), d.clients.stats()
}
