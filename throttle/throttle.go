// Package throttle limits guessing: it counts failed password and
// credential checks per key (a username, a client IP, a device cookie) in
// fixed windows and blocks a key that reaches the limit until its window
// ends. Consumers see only Counter. Failures counts in this process,
// sharded and bounded in memory (O(1) per call, a hard cap on keys);
// Redis counts across every instance sharing one Redis, on Redis's clock,
// and falls back to a local Failures while Redis does not answer.
package throttle

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is how many keys a Failures made by New remembers at
// most (about 40 MiB at the cap).
const DefaultMaxKeys = 1 << 18

// shardCount spreads keys over this many independently locked maps, so
// concurrent failures for different keys rarely wait for each other.
const shardCount = 64

// Failures counts failed attempts per key (a username, a client IP) in
// fixed windows; a key with limit failures in the current window is
// blocked until the window ends. It guards password and secret checks
// against guessing.
//
// Every operation is O(1) whatever the number of keys: keys are spread
// over shards, each shard keeps its windows in the order they started,
// so ended windows are dropped from the front as time passes, and a shard
// at its share of the hard cap (maxKeys) forgets its oldest window to
// admit a new key. A spray of distinct keys therefore costs bounded
// memory; to evict a blocked key it must bring maxKeys fresh keys within
// one window.
type Failures struct {
	limit    int
	window   time.Duration
	now      func() time.Time
	perShard int
	seed     maphash.Seed
	shards   [shardCount]shard
}

type shard struct {
	mu    sync.Mutex
	hits  map[string]*list.Element // of *entry
	order list.List                // *entry, oldest window start first
}

type entry struct {
	key   string
	start time.Time
	n     int
}

// New returns a counter allowing limit failures per key per window,
// remembering at most DefaultMaxKeys keys.
func New(limit int, w time.Duration, now func() time.Time) *Failures {
	return NewWithCap(limit, w, now, DefaultMaxKeys)
}

// NewWithCap is New remembering at most maxKeys keys (at least one per
// shard).
func NewWithCap(limit int, w time.Duration, now func() time.Time, maxKeys int) *Failures {
	t := &Failures{limit: limit, window: w, now: now, perShard: max(1, maxKeys/shardCount), seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].hits = map[string]*list.Element{}
	}
	return t
}

func (t *Failures) shard(key string) *shard {
	return &t.shards[maphash.String(t.seed, key)%shardCount]
}

// live returns key's entry if its window is still open. The caller holds s.mu.
func (t *Failures) live(s *shard, key string, now time.Time) *entry {
	el := s.hits[key]
	if el == nil {
		return nil
	}
	e := el.Value.(*entry)
	if now.Sub(e.start) >= t.window {
		return nil
	}
	return e
}

// expire drops windows that have ended from the front of s. The caller holds s.mu.
func (t *Failures) expire(s *shard, now time.Time) {
	for el := s.order.Front(); el != nil; el = s.order.Front() {
		e := el.Value.(*entry)
		if now.Sub(e.start) < t.window {
			return
		}
		s.order.Remove(el)
		delete(s.hits, e.key)
	}
}

// Blocked returns how long until every blocked key among keys frees up, or 0.
func (t *Failures) Blocked(keys ...string) time.Duration {
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		s := t.shard(k)
		s.mu.Lock()
		if e := t.live(s, k, now); e != nil && e.n >= t.limit {
			if d := t.window - now.Sub(e.start); d > wait {
				wait = d
			}
		}
		s.mu.Unlock()
	}
	return wait
}

// Fail records one failure for each key.
func (t *Failures) Fail(keys ...string) {
	now := t.now()
	for _, k := range keys {
		s := t.shard(k)
		s.mu.Lock()
		t.expire(s, now)
		if e := t.live(s, k, now); e != nil {
			e.n++
			s.mu.Unlock()
			continue
		}
		if el := s.hits[k]; el != nil { // ended, but behind a younger window (the clock stepped back)
			s.order.Remove(el)
			delete(s.hits, k)
		}
		for len(s.hits) >= t.perShard { // the hard cap: forget the oldest window
			el := s.order.Front()
			s.order.Remove(el)
			delete(s.hits, el.Value.(*entry).key)
		}
		s.hits[k] = s.order.PushBack(&entry{key: k, start: now, n: 1})
		s.mu.Unlock()
	}
}

// Reset forgets key (after a success).
func (t *Failures) Reset(key string) {
	s := t.shard(key)
	s.mu.Lock()
	if el := s.hits[key]; el != nil {
		s.order.Remove(el)
		delete(s.hits, key)
	}
	s.mu.Unlock()
}

// keys returns how many keys t remembers.
func (t *Failures) keys() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.hits)
		s.mu.Unlock()
	}
	return n
}
