package keys

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// TestUsageAggregate: counts land in their hour and day slots with the
// key counters, exactly, in one flush; a revoked key's use is counted as
// a revoked attempt.
func TestUsageAggregate(t *testing.T) {
	s, store, clk, _ := newService(t, false)
	ctx := t.Context()
	k, raw, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	start := storage.BucketStart(storage.BucketHour, clk.now())
	want := map[string]int64{storage.OutcomeAllowed: 0, storage.OutcomeRateLimited: 0, storage.OutcomeScopeDenied: 0}
	var wg sync.WaitGroup
	for i := range 30 {
		outcome := []string{storage.OutcomeAllowed, storage.OutcomeAllowed, storage.OutcomeRateLimited, storage.OutcomeScopeDenied, storage.OutcomeAllowed}[i%5]
		want[outcome]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.CountUsage(storage.UsageKey, k.ID, outcome)
		}()
	}
	wg.Wait()
	s.CountUsage(storage.UsageClient, "c1", storage.OutcomeAllowed)
	if _, err := s.Revoke(ctx, "u1", "ci", owner, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Second) // past the verification cache
	if _, err := s.Verify(ctx, raw, ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("verify revoked: %v", err)
	}
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	want[storage.OutcomeRevoked] = 1
	for _, bucket := range []string{storage.BucketHour, storage.BucketDay} {
		rows, err := store.UsageSeries(ctx, storage.UsageKey, k.ID, bucket, start.Add(-24*time.Hour), start.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range rows {
			got[r.Outcome] += r.Count
		}
		for o, n := range want {
			if got[o] != n {
				t.Errorf("%s %s = %d, want %d (all: %v)", bucket, o, got[o], n, got)
			}
		}
	}
	c, err := store.UsageSeries(ctx, storage.UsageClient, "c1", storage.BucketHour, start, start.Add(time.Hour))
	if err != nil || len(c) != 1 || c[0].Count != 1 {
		t.Fatalf("client slots = %+v, %v", c, err)
	}
	// Nothing pending: the next flush writes nothing twice.
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := store.UsageSeries(ctx, storage.UsageClient, "c1", storage.BucketHour, start, start.Add(time.Hour))
	if again[0].Count != 1 {
		t.Fatalf("a second flush re-added: %+v", again)
	}
}

// BenchmarkCountUsage is the per-request cost the aggregate adds to an
// API request (one lock and one map increment), from all procs at once;
// compare with BenchmarkVerifyCached, the rest of a key's hot path.
func BenchmarkCountUsage(b *testing.B) {
	b.ReportAllocs()
	bt := newUsageBatcher(discardUsage{}, time.Now, 10)
	defer func() { _ = bt.close(context.Background()) }()
	ids := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"}
	at := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bt.count(storage.UsageKey, ids[i%len(ids)], storage.OutcomeAllowed, at)
			i++
		}
	})
}

type discardUsage struct{}

func (discardUsage) RecordUsage(context.Context, []storage.KeyUsage, []storage.UsageDelta) error {
	return nil
}
