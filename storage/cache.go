package storage

import (
	"sync"
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
		return zero, false
	}
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
