package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

const memoryShards = 64

// Memory is the in-process Limiter: a sharded map from key to its two
// TATs. Memory stays bounded by the keys active within the last hour: a
// key whose TATs have passed is exactly equivalent to a fresh key, so each
// shard forgets such keys in a sweep that runs once per len/2 (at least
// 64) spending operations on the shard (amortised O(1) per decision).
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]shard
}

type shard struct {
	mu  sync.Mutex
	m   map[string]*state
	ops int
}

type state struct{ q, b int64 }

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-memory limiter reading the clock now (nil means
// time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[string]*state)
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, tier Tier) (Decision, error) {
	return m.do(key, tier, true), nil
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string, tier Tier) (Decision, error) {
	return m.do(key, tier, false), nil
}

// Len reports how many keys are held (for tests and metrics).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (m *Memory) do(key string, tier Tier, spend bool) Decision {
	s := &m.shards[maphash.String(m.seed, key)%memoryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixMicro()
	st := s.m[key]
	var tq, tb int64
	if st != nil {
		tq, tb = st.q, st.b
	}
	d, nq, nb := decide(tier, now, tq, tb, spend)
	if spend && d.Allowed {
		if st == nil {
			st = &state{}
			s.m[key] = st
		}
		st.q, st.b = nq, nb
		s.ops++
		if s.ops >= max(len(s.m)/2, 64) {
			s.sweep(now)
		}
	}
	return d
}

// sweep forgets keys whose state equals a fresh key's.
func (s *shard) sweep(now int64) {
	s.ops = 0
	for k, st := range s.m {
		if expiry(now, st.q, st.b) <= 0 {
			delete(s.m, k)
		}
	}
}
