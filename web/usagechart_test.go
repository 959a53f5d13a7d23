package web

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{{0, 1}, {1, 1}, {2, 2}, {3, 5}, {7, 10}, {10, 10}, {11, 20}, {49, 50}, {51, 100}, {1001, 2000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestUsageChartLayout: the bars stack each bucket's outcomes from the
// axis up, in proportion to the scale; the table lists the busy buckets
// with the same numbers.
func TestUsageChartLayout(t *testing.T) {
	from := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	r := usage.Range{Bucket: storage.BucketHour, From: from, To: from.Add(3 * time.Hour)}
	s := usage.Build([]storage.UsageCount{
		{BucketStart: from, Outcome: storage.OutcomeAllowed, Count: 30},
		{BucketStart: from, Outcome: storage.OutcomeRateLimited, Count: 10},
		{BucketStart: from.Add(2 * time.Hour), Outcome: storage.OutcomeScopeDenied, Count: 1200},
	}, r, usage.RequestOutcomes)
	ch := newUsageChart("usage", "Requests", "request", s, nil)
	if ch.Width != 30 || len(ch.Bars) != 3 || ch.Scale != "0 to 2,000 requests an hour" {
		t.Fatalf("chart = width %d, %d bars, scale %q", ch.Width, len(ch.Bars), ch.Scale)
	}
	b0 := ch.Bars[0]
	if len(b0.Segments) != 2 || b0.Segments[0].Class != "seg-allowed" || b0.Segments[1].Class != "seg-rate_limited" {
		t.Fatalf("bar 0 = %+v", b0)
	}
	// 40 of 2,000 over 98 units: 1.47 + 0.49, stacked up from y = 100.
	if b0.Segments[0].H != 1.47 || b0.Segments[0].Y != 98.53 || b0.Segments[1].H != 0.49 || b0.Segments[1].Y != 98.04 {
		t.Errorf("bar 0 segments = %+v", b0.Segments)
	}
	if len(ch.Bars[1].Segments) != 0 || ch.Bars[2].Segments[0].H != 58.8 {
		t.Errorf("bars 1, 2 = %+v %+v", ch.Bars[1], ch.Bars[2])
	}
	if b0.Title != "26 Nov 2026 00:00 UTC: 30 allowed, 10 refused by rate limit, 0 refused by scope" {
		t.Errorf("bar 0 title %q", b0.Title)
	}
	if len(ch.Rows) != 2 || ch.Rows[1].When != "26 Nov 2026 02:00 UTC" || ch.Rows[1].Counts[2] != "1,200" || ch.Rows[1].Total != "1,200" {
		t.Errorf("rows = %+v", ch.Rows)
	}
	if ch.Summary != s.Summary("request") || ch.Legend[0].Total != "30" {
		t.Errorf("summary %q, legend %+v", ch.Summary, ch.Legend)
	}
}
