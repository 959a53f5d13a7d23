// Package ttlcache is the in-process read cache behind Latchkey's hot paths
// (API-key verification, users and clients): entries live for a TTL, are
// dropped explicitly when the record changes, and can be bypassed while
// invalidations might be lost (the cross-instance invalidation listener is
// down).
//
// Filling is race-free against invalidation: Get hands out a ticket on a
// miss, and Put stores only if nothing was invalidated (and the cache was
// not flushed or bypassed) since that ticket. So a reader that fetched a
// row just before a write committed can never put the old row back after
// the write's invalidation, which would otherwise keep it for a whole TTL.
package ttlcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Ticket is handed out by Get on a miss and passed back to Put.
type Ticket uint64

// Cache maps string keys to values of type V. The zero value is not
// usable; a nil *Cache is a valid, always-empty cache. It is safe for
// concurrent use.
type Cache[V any] struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.RWMutex
	entries map[string]entry[V]
	// swept is when expired entries were last dropped (Put sweeps once
	// per TTL, so the cache holds what was stored in the last two TTLs,
	// not every key ever seen up to max).
	swept time.Time
	// gen counts invalidations, flushes and bypass changes: a Put whose
	// ticket predates any of them is dropped.
	gen    uint64
	bypass bool
	// hits and misses count Get's answers (Stats).
	hits, misses atomic.Uint64
}

// Stats counts the lookups a cache answered (Hits) and those that went to
// the source (Misses), bypassed lookups included.
type Stats struct {
	Hits, Misses uint64
}

// Stats reports the lookups since the cache was made (zero for a nil cache).
func (c *Cache[V]) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

type entry[V any] struct {
	v  V
	at time.Time
}

// New returns a cache keeping entries for ttl and at most max of them
// (past that, expired entries are evicted and, if that is not enough, the
// cache starts afresh). Expired entries are also dropped by the first Put
// after each TTL, so memory follows the keys used lately, not the keys
// ever seen. ttl <= 0 returns nil: no caching at all.
func New[V any](ttl time.Duration, max int, now func() time.Time) *Cache[V] {
	if ttl <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if max < 1 {
		max = 1
	}
	return &Cache[V]{ttl: ttl, max: max, now: now, entries: map[string]entry[V]{}, swept: now()}
}

// TTL reports how long entries live (0 for a nil cache).
func (c *Cache[V]) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.ttl
}

// Get returns the live entry for k. On a miss it returns a ticket to pass
// to Put with the value read from the source; take it before reading.
func (c *Cache[V]) Get(k string) (v V, ok bool, t Ticket) {
	if c == nil {
		return v, false, 0
	}
	c.mu.RLock()
	e, found := c.entries[k]
	t, bypass := Ticket(c.gen), c.bypass
	c.mu.RUnlock()
	if bypass || !found || c.now().Sub(e.at) >= c.ttl {
		c.misses.Add(1)
		return v, false, t
	}
	c.hits.Add(1)
	return e.v, true, 0
}

// Ticket returns a ticket for a value about to be read from the source
// under a key the caller could not look up first (it learns the key from
// the value itself); pass it to Put like one from Get.
func (c *Cache[V]) Ticket() Ticket {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Ticket(c.gen)
}

// Put stores v under k unless the cache was invalidated, flushed or
// bypassed since t was handed out.
func (c *Cache[V]) Put(k string, v V, t Ticket) {
	if c == nil {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bypass || Ticket(c.gen) != t {
		return
	}
	if _, exists := c.entries[k]; (!exists && len(c.entries) >= c.max) || now.Sub(c.swept) >= c.ttl {
		c.entries = SweepExpired(c.entries, func(e entry[V]) bool { return now.Sub(e.at) >= c.ttl })
		c.swept = now
		if len(c.entries) >= c.max {
			c.entries = map[string]entry[V]{}
		}
	}
	c.entries[k] = entry[V]{v: v, at: now}
}

// SweepExpired returns m without the entries expired reports. It copies
// the survivors into a new map when that frees most of m — a Go map never
// gives back the room of deleted entries, so a cache that once held many
// would otherwise keep their memory — and deletes in place otherwise.
func SweepExpired[K comparable, E any](m map[K]E, expired func(E) bool) map[K]E {
	live := 0
	for _, e := range m {
		if !expired(e) {
			live++
		}
	}
	if live == len(m) {
		return m
	}
	if live < len(m)/2 {
		out := make(map[K]E, live)
		for k, e := range m {
			if !expired(e) {
				out[k] = e
			}
		}
		return out
	}
	for k, e := range m {
		if expired(e) {
			delete(m, k)
		}
	}
	return m
}

// Invalidate drops k. Call it after the change to k is committed.
func (c *Cache[V]) Invalidate(k string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.entries, k)
	c.gen++
	c.mu.Unlock()
}

// SetBypass with on drops every entry and makes Get miss and Put do
// nothing until SetBypass is called without on; use it while
// invalidations may be lost.
func (c *Cache[V]) SetBypass(on bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if on {
		c.entries = map[string]entry[V]{}
	}
	c.bypass = on
	c.gen++
	c.mu.Unlock()
}

// Len reports the number of stored entries, expired ones included.
func (c *Cache[V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
