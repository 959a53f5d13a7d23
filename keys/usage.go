package keys

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// usageBatcher accumulates last-used times and use counts in memory and
// writes them in one transaction per flush, so verification never writes
// synchronously. It also remembers which source addresses each key was
// seen from, to audit the first use from a new address.
type usageBatcher struct {
	store storage.APIKeys
	now   func() time.Time

	mu      sync.Mutex
	pending map[string]*storage.KeyUsage
	seen    map[string]map[string]struct{}

	stop chan struct{}
	done chan struct{}
}

const flushEvery = 2 * time.Second

func newUsageBatcher(store storage.APIKeys, now func() time.Time) *usageBatcher {
	b := &usageBatcher{
		store: store, now: now,
		pending: map[string]*storage.KeyUsage{},
		seen:    map[string]map[string]struct{}{},
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go b.loop()
	return b
}

// record notes one use; it reports whether ip is new for this key (as
// far as this process has seen).
func (b *usageBatcher) record(keyID string, at time.Time, ip string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.pending[keyID]
	if u == nil {
		u = &storage.KeyUsage{KeyID: keyID}
		b.pending[keyID] = u
	}
	u.Count++
	if at.After(u.LastUsed) {
		u.LastUsed = at
	}
	if ip == "" {
		return false
	}
	ips := b.seen[keyID]
	if ips == nil {
		if len(b.seen) > 100_000 {
			b.seen = map[string]map[string]struct{}{}
		}
		ips = map[string]struct{}{}
		b.seen[keyID] = ips
	}
	if _, ok := ips[ip]; ok {
		return false
	}
	if len(ips) < 64 {
		ips[ip] = struct{}{}
	}
	return true
}

func (b *usageBatcher) flush(ctx context.Context) error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return nil
	}
	batch := make([]storage.KeyUsage, 0, len(b.pending))
	for _, u := range b.pending {
		batch = append(batch, *u)
	}
	b.pending = map[string]*storage.KeyUsage{}
	b.mu.Unlock()
	return b.store.RecordKeyUsage(ctx, batch)
}

func (b *usageBatcher) loop() {
	defer close(b.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.flush(context.Background())
		}
	}
}

// close stops the loop and writes what is pending.
func (b *usageBatcher) close(ctx context.Context) error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
	return b.flush(ctx)
}
