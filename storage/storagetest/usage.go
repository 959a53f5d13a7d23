package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// usageBase is an hour start far from any day boundary's edge cases:
// 10:00 UTC two days ago.
func usageBase() time.Time {
	d := time.Now().UTC().Add(-48 * time.Hour)
	return time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, time.UTC)
}

// testUsageRecord: deltas land in their hour and their day slot, add up
// across flushes, and the key counters of the same flush are written too.
func testUsageRecord(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1")
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "a", 1)), "create")
	base := usageBase()
	must(t, s.RecordUsage(ctx, []storage.KeyUsage{{KeyID: "k1", LastUsed: base, Count: 3}}, []storage.UsageDelta{
		{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "allowed", At: base.Add(5 * time.Minute), N: 2},
		{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "allowed", At: base.Add(59 * time.Minute), N: 1},
		{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "rate_limited", At: base.Add(61 * time.Minute), N: 4},
		{Subject: storage.UsageClient, SubjectID: "c1", Outcome: "allowed", At: base, N: 7},
	}), "flush 1")
	must(t, s.RecordUsage(ctx, nil, []storage.UsageDelta{
		{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "allowed", At: base.Add(10 * time.Minute), N: 10},
	}), "flush 2")
	must(t, s.RecordUsage(ctx, nil, nil), "empty flush")
	k, err := s.GetAPIKey(ctx, "k1")
	must(t, err, "get key")
	if k.UsageCount != 3 {
		t.Fatalf("usage_count = %d, want 3 (the key counters ride in the same flush)", k.UsageCount)
	}
	hours, err := s.UsageSeries(ctx, storage.UsageKey, "k1", storage.BucketHour, base.Add(-time.Hour), base.Add(3*time.Hour))
	must(t, err, "hour series")
	want := []struct {
		start   time.Time
		outcome string
		n       int64
	}{{base, "allowed", 13}, {base.Add(time.Hour), "rate_limited", 4}}
	if len(hours) != len(want) {
		t.Fatalf("hour slots = %+v, want %d", hours, len(want))
	}
	for i, w := range want {
		if !hours[i].BucketStart.Equal(w.start) || hours[i].Outcome != w.outcome || hours[i].Count != w.n {
			t.Fatalf("hour slot %d = %+v, want %v %s %d", i, hours[i], w.start, w.outcome, w.n)
		}
	}
	day := storage.BucketStart(storage.BucketDay, base)
	days, err := s.UsageSeries(ctx, storage.UsageKey, "k1", storage.BucketDay, day, day.Add(24*time.Hour))
	must(t, err, "day series")
	if len(days) != 2 || days[0].Outcome != "allowed" || days[0].Count != 13 || days[1].Outcome != "rate_limited" || days[1].Count != 4 {
		t.Fatalf("day slots = %+v, want allowed 13, rate_limited 4", days)
	}
	// The range is half-open: a slot starting at to is left out.
	none, err := s.UsageSeries(ctx, storage.UsageKey, "k1", storage.BucketHour, base.Add(-time.Hour), base)
	must(t, err, "empty range")
	if len(none) != 0 {
		t.Fatalf("slots before base = %+v", none)
	}
}

// testUsageConcurrent: flushes of several instances at once add up.
func testUsageConcurrent(t *testing.T, ctx context.Context, s storage.Store) {
	base := usageBase()
	const writers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- s.RecordUsage(ctx, nil, []storage.UsageDelta{{Subject: storage.UsageClient, SubjectID: "c1", Outcome: "allowed", At: base, N: 1}})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err, "concurrent flush")
	}
	got, err := s.UsageSeries(ctx, storage.UsageClient, "c1", storage.BucketHour, base, base.Add(time.Hour))
	must(t, err, "series")
	if len(got) != 1 || got[0].Count != writers*each {
		t.Fatalf("slots = %+v, want one of %d", got, writers*each)
	}
}

// testUsageTotals: instance-wide sums by outcome and the busiest subjects.
func testUsageTotals(t *testing.T, ctx context.Context, s storage.Store) {
	base := usageBase()
	must(t, s.RecordUsage(ctx, nil, []storage.UsageDelta{
		{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "allowed", At: base, N: 5},
		{Subject: storage.UsageKey, SubjectID: "k2", Outcome: "allowed", At: base, N: 2},
		{Subject: storage.UsageKey, SubjectID: "k2", Outcome: "scope_denied", At: base, N: 9},
		{Subject: storage.UsageKey, SubjectID: "k3", Outcome: "allowed", At: base.Add(-30 * 24 * time.Hour), N: 100},
		{Subject: storage.UsageClient, SubjectID: "c1", Outcome: "allowed", At: base, N: 50},
	}), "flush")
	from, to := base.Add(-7*24*time.Hour), base.Add(24*time.Hour)
	out, err := s.UsageOutcomes(ctx, storage.UsageKey, from, to)
	must(t, err, "outcomes")
	if len(out) != 2 || out[0].Outcome != "allowed" || out[0].Count != 7 || out[1].Outcome != "scope_denied" || out[1].Count != 9 {
		t.Fatalf("outcomes = %+v, want allowed 7, scope_denied 9 (k3 is out of range, c1 another subject)", out)
	}
	top, err := s.BusiestSubjects(ctx, storage.UsageKey, from, to, 10)
	must(t, err, "busiest")
	if len(top) != 2 || top[0].SubjectID != "k2" || top[0].Total != 11 || top[1].SubjectID != "k1" || top[1].Total != 5 {
		t.Fatalf("busiest = %+v, want k2 11, k1 5", top)
	}
	top, err = s.BusiestSubjects(ctx, storage.UsageKey, from, to, 1, "allowed")
	must(t, err, "busiest allowed")
	if len(top) != 1 || top[0].SubjectID != "k1" || top[0].Total != 5 {
		t.Fatalf("busiest allowed = %+v, want k1 5 only", top)
	}
}

// testUsagePurge: only the bucket named, only before the cutoff, at most limit.
func testUsagePurge(t *testing.T, ctx context.Context, s storage.Store) {
	base := usageBase()
	var deltas []storage.UsageDelta
	for i := range 5 {
		deltas = append(deltas, storage.UsageDelta{Subject: storage.UsageKey, SubjectID: "k1", Outcome: "allowed", At: base.Add(time.Duration(i) * time.Hour), N: 1})
	}
	must(t, s.RecordUsage(ctx, nil, deltas), "flush")
	n, err := s.PurgeUsage(ctx, storage.BucketHour, base.Add(3*time.Hour), 2)
	must(t, err, "purge 1")
	if n != 2 {
		t.Fatalf("purged %d, want 2 (the limit)", n)
	}
	n, err = s.PurgeUsage(ctx, storage.BucketHour, base.Add(3*time.Hour), 10)
	must(t, err, "purge 2")
	if n != 1 {
		t.Fatalf("purged %d, want the 1 slot left before the cutoff", n)
	}
	left, err := s.UsageSeries(ctx, storage.UsageKey, "k1", storage.BucketHour, base.Add(-time.Hour), base.Add(24*time.Hour))
	must(t, err, "series")
	if len(left) != 2 || !left[0].BucketStart.Equal(base.Add(3*time.Hour)) {
		t.Fatalf("hour slots left = %+v, want the 2 from base+3h", left)
	}
	day := storage.BucketStart(storage.BucketDay, base)
	days, err := s.UsageSeries(ctx, storage.UsageKey, "k1", storage.BucketDay, day, day.Add(24*time.Hour))
	must(t, err, "days")
	if len(days) != 1 || days[0].Count != 5 {
		t.Fatalf("day slots = %+v, want the day's 5 untouched", days)
	}
}

// testInstanceStats counts by state.
func testInstanceStats(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2")
	now := time.Now().UTC()
	past := now.Add(-time.Hour)
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "a", 1)), "active")
	k2 := newKey("k2", "u1", "b", 2)
	k2.ExpiresAt = &past
	must(t, s.CreateAPIKey(ctx, k2), "expired")
	k3 := newKey("k3", "u1", "c", 3)
	k3.RevokedAt = &past
	must(t, s.CreateAPIKey(ctx, k3), "revoked")
	st, err := s.InstanceStats(ctx, now)
	must(t, err, "stats")
	if st.Users != 2 || st.KeysActive != 1 || st.KeysExpired != 1 || st.KeysRevoked != 1 {
		t.Fatalf("stats = %+v", st)
	}
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "new_ip", At: past}), "event 1")
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "created", At: now}), "event 2")
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k2", UserID: "u1", Type: "new_ip", At: now}), "event 3")
	es, err := s.RecentKeyEvents(ctx, []string{"new_ip"}, 10)
	must(t, err, "recent")
	if len(es) != 2 || es[0].KeyID != "k2" || es[1].KeyID != "k1" {
		t.Fatalf("recent new_ip = %+v, want k2 then k1", es)
	}
}
