package usage

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

var now = time.Date(2026, 11, 26, 14, 25, 0, 0, time.UTC)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name, bucket, from, to string
		wantFrom, wantTo       time.Time
		wantErr                bool
	}{
		{name: "default hour", wantFrom: time.Date(2026, 11, 19, 15, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)},
		{name: "default day", bucket: "day", wantFrom: time.Date(2026, 8, 29, 0, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)},
		{name: "rounded out", bucket: "hour", from: "2026-11-26T10:30:00Z", to: "2026-11-26T12:10:00+00:00",
			wantFrom: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)},
		{name: "exact to", bucket: "day", from: "2026-11-01T00:00:00Z", to: "2026-11-03T00:00:00Z",
			wantFrom: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), wantTo: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)},
		{name: "bad bucket", bucket: "minute", wantErr: true},
		{name: "bad time", from: "yesterday", wantErr: true},
		{name: "reversed", from: "2026-11-26T10:00:00Z", to: "2026-11-25T10:00:00Z", wantErr: true},
		{name: "too long", from: "2026-01-01T00:00:00Z", to: "2026-11-25T10:00:00Z", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRange(tc.bucket, tc.from, tc.to, now)
			if tc.wantErr {
				if !errors.Is(err, ErrRange) {
					t.Fatalf("err = %v, want ErrRange", err)
				}
				return
			}
			if err != nil || !r.From.Equal(tc.wantFrom) || !r.To.Equal(tc.wantTo) {
				t.Fatalf("range = %v..%v, %v; want %v..%v", r.From, r.To, err, tc.wantFrom, tc.wantTo)
			}
		})
	}
}

func TestBuildAndSummary(t *testing.T) {
	r := Range{Bucket: storage.BucketHour, From: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)}
	slots := []storage.UsageCount{
		{BucketStart: r.From, Outcome: storage.OutcomeAllowed, Count: 1200},
		{BucketStart: r.From.Add(2 * time.Hour), Outcome: storage.OutcomeAllowed, Count: 3},
		{BucketStart: r.From.Add(2 * time.Hour), Outcome: storage.OutcomeRateLimited, Count: 2000},
		{BucketStart: r.From.Add(2 * time.Hour), Outcome: storage.OutcomeRevoked, Count: 9},     // not shown
		{BucketStart: r.From.Add(-time.Hour), Outcome: storage.OutcomeAllowed, Count: 50},       // before
		{BucketStart: r.To, Outcome: storage.OutcomeAllowed, Count: 50},                         // after
		{BucketStart: r.From.Add(3 * time.Hour), Outcome: storage.OutcomeScopeDenied, Count: 1}, // last
	}
	s := Build(slots, r, RequestOutcomes)
	if len(s.Points) != 4 || s.Points[1].Total() != 0 || s.Points[2].Counts[1] != 2000 || s.Points[3].Counts[2] != 1 {
		t.Fatalf("points = %+v", s.Points)
	}
	if s.Total() != 3204 || s.Count(storage.OutcomeAllowed) != 1203 || s.Count(storage.OutcomeRevoked) != 0 {
		t.Fatalf("totals = %v", s.Totals)
	}
	want := "26 Nov 2026 10:00 UTC to 26 Nov 2026 13:00 UTC, by the hour: 3,204 requests (1,203 allowed, 2,000 refused by rate limit, " +
		"1 refused by scope); busiest hour 26 Nov 2026 12:00 UTC with 2,003."
	if got := s.Summary("request"); got != want {
		t.Fatalf("summary\n got %q\nwant %q", got, want)
	}
	empty := Build(nil, r, RequestOutcomes)
	if got := empty.Summary("request"); got != "26 Nov 2026 10:00 UTC to 26 Nov 2026 13:00 UTC, by the hour: no requests." {
		t.Fatalf("empty summary %q", got)
	}
}
