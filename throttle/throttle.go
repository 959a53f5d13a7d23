// Package throttle limits guessing: it counts failed attempts per key in
// fixed windows, in memory.
package throttle

import (
	"sync"
	"time"
)

// Failures counts failed attempts per key (a username, a client IP) in
// fixed windows; a key with limit failures in the current window is
// blocked until the window ends. It guards password and secret checks
// against guessing.
type Failures struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	hits   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// New returns a counter allowing limit failures per key per window.
func New(limit int, w time.Duration, now func() time.Time) *Failures {
	return &Failures{limit: limit, window: w, now: now, hits: map[string]*window{}}
}

// Blocked returns how long until every blocked key among keys frees up, or 0.
func (t *Failures) Blocked(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		w := t.hits[k]
		if w == nil || now.Sub(w.start) >= t.window {
			continue
		}
		if w.n >= t.limit {
			if d := t.window - now.Sub(w.start); d > wait {
				wait = d
			}
		}
	}
	return wait
}

// Fail records one failure for each key.
func (t *Failures) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.hits) > 100000 { // bound memory under a spray of usernames
		for k, w := range t.hits {
			if now.Sub(w.start) >= t.window {
				delete(t.hits, k)
			}
		}
	}
	for _, k := range keys {
		w := t.hits[k]
		if w == nil || now.Sub(w.start) >= t.window {
			w = &window{start: now}
			t.hits[k] = w
		}
		w.n++
	}
}

// Reset forgets key (after a success).
func (t *Failures) Reset(key string) {
	t.mu.Lock()
	delete(t.hits, key)
	t.mu.Unlock()
}
