package janitor_test

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/janitor"
	"github.com/latchkey/latchkey/storage"
)

// TestUsageRetention: hour and day slots are purged past their own
// retention, in batches, and reported per bucket; a bucket without a
// retention is kept.
func TestUsageRetention(t *testing.T) {
	db := openDB(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var deltas []storage.UsageDelta
	for d := range 10 { // one count a day for the last 10 days: 10 hour slots, 10 day slots
		deltas = append(deltas, storage.UsageDelta{Subject: storage.UsageKey, SubjectID: "k1", Outcome: storage.OutcomeAllowed, At: now.Add(-time.Duration(d) * 24 * time.Hour), N: 1})
	}
	if err := db.RecordUsage(t.Context(), nil, deltas); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		retention  map[string]time.Duration
		want       storage.Purged
		hour, days int
	}{
		{"none", nil, storage.Purged{}, 10, 10},
		{"hour only", map[string]time.Duration{storage.BucketHour: 3*24*time.Hour + time.Minute}, storage.Purged{"usage_counts_hour": 6}, 4, 10},
		{"day too", map[string]time.Duration{storage.BucketHour: 3*24*time.Hour + time.Minute, storage.BucketDay: 5 * 24 * time.Hour},
			storage.Purged{"usage_counts_day": 5}, 4, 5}, // a slot goes once its start is past the retention
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := janitor.New(janitor.Config{Batch: 2, Pause: -1, Now: func() time.Time { return now }, UsageRetention: tc.retention}, db)
			got, err := j.RunOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for table, n := range tc.want {
				if got[table] != n {
					t.Errorf("purged %s = %d, want %d (all: %v)", table, got[table], n, got)
				}
			}
			for bucket, want := range map[string]int{storage.BucketHour: tc.hour, storage.BucketDay: tc.days} {
				left, err := db.UsageSeries(t.Context(), storage.UsageKey, "k1", bucket, now.Add(-30*24*time.Hour), now.Add(24*time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if len(left) != want {
					t.Errorf("%s slots left = %d, want %d", bucket, len(left), want)
				}
			}
		})
	}
}
