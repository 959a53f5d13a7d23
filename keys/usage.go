package keys

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/latchkey/latchkey/storage"
)

// usageBatcher accumulates last-used times and use counts in memory, and
// the usage aggregate's counts (requests by subject, outcome and hour:
// storage.UsageCount), and writes both in one transaction per flush, so
// neither verification nor a request's outcome ever writes
// synchronously. A crash loses at most the last flushEvery of counts. It also remembers which source addresses each key was
// seen from, to audit the first use from a new address: the (key,
// address) pairs live in a bounded LRU, and each key may write at most
// newIPLimit such audit entries a minute — the rest are counted and
// reported in the next entry — so a key used from ever new addresses
// costs a bounded number of writes.
type usageBatcher struct {
	store      usageStore
	now        func() time.Time
	newIPLimit int

	mu      sync.Mutex
	pending map[string]*storage.KeyUsage
	counts  map[usageSlot]int64
	seen    *simplelru.LRU[string, struct{}]
	budgets *simplelru.LRU[string, *ipBudget]

	stop chan struct{}
	done chan struct{}
}

// usageStore is where a flush goes: the key counters and the aggregate
// in one transaction.
type usageStore interface {
	RecordUsage(ctx context.Context, keys []storage.KeyUsage, deltas []storage.UsageDelta) error
}

// usageSlot is one pending aggregate count: a subject's outcome in the
// hour starting at hour (Unix seconds).
type usageSlot struct {
	subject, id, outcome string
	hour                 int64
}

// ipBudget is a key's fixed one-minute window of new_ip audit entries.
type ipBudget struct {
	start   time.Time
	n       int
	dropped int // new addresses not audited since the last entry
}

const (
	flushEvery = 2 * time.Second
	// seenMax bounds the remembered (key, address) pairs and budgetsMax
	// the keys whose new_ip budget is tracked.
	seenMax    = 100_000
	budgetsMax = 10_000
	// newIPWindow is the window of Config.NewIPEventsPerMinute.
	newIPWindow = time.Minute
)

func newUsageBatcher(store usageStore, now func() time.Time, newIPLimit int) *usageBatcher {
	seen, _ := simplelru.NewLRU[string, struct{}](seenMax, nil)
	budgets, _ := simplelru.NewLRU[string, *ipBudget](budgetsMax, nil)
	b := &usageBatcher{
		store: store, now: now, newIPLimit: newIPLimit,
		pending: map[string]*storage.KeyUsage{}, counts: map[usageSlot]int64{},
		seen: seen, budgets: budgets,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.loop()
	return b
}

// record notes one use. It reports whether to audit a first use from ip
// (new for this key as far as this process remembers, and within the
// key's budget of audit entries), and how many new addresses went
// unaudited since the key's last such entry.
func (b *usageBatcher) record(keyID string, at time.Time, ip string) (audit bool, dropped int) {
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
		return false, 0
	}
	pair := keyID + " " + ip
	if _, ok := b.seen.Get(pair); ok {
		return false, 0
	}
	b.seen.Add(pair, struct{}{})
	bud, ok := b.budgets.Get(keyID)
	if !ok {
		bud = &ipBudget{start: at}
		b.budgets.Add(keyID, bud)
	}
	if at.Sub(bud.start) >= newIPWindow {
		bud.start, bud.n = at, 0
	}
	if bud.n >= b.newIPLimit {
		bud.dropped++
		return false, 0
	}
	bud.n++
	dropped, bud.dropped = bud.dropped, 0
	return true, dropped
}

// count adds one event with outcome to the subject's slot of the hour
// holding at.
func (b *usageBatcher) count(subject, id, outcome string, at time.Time) {
	slot := usageSlot{subject: subject, id: id, outcome: outcome, hour: at.Unix() - at.Unix()%3600}
	b.mu.Lock()
	b.counts[slot]++
	b.mu.Unlock()
}

func (b *usageBatcher) flush(ctx context.Context) error {
	b.mu.Lock()
	if len(b.pending) == 0 && len(b.counts) == 0 {
		b.mu.Unlock()
		return nil
	}
	batch := make([]storage.KeyUsage, 0, len(b.pending))
	for _, u := range b.pending {
		batch = append(batch, *u)
	}
	deltas := make([]storage.UsageDelta, 0, len(b.counts))
	for s, n := range b.counts {
		deltas = append(deltas, storage.UsageDelta{Subject: s.subject, SubjectID: s.id, Outcome: s.outcome, At: time.Unix(s.hour, 0).UTC(), N: n})
	}
	b.pending = map[string]*storage.KeyUsage{}
	b.counts = map[usageSlot]int64{}
	b.mu.Unlock()
	return b.store.RecordUsage(ctx, batch, deltas)
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
