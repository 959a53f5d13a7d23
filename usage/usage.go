// Package usage turns the usage aggregate (storage.UsageCount slots) into
// series people can read: a time range in hour or day buckets, every
// bucket present (zero when nothing happened), totals, the busiest bucket
// and a sentence that states them. The JSON API, the key and app pages and
// the operator's overview all read usage through it, so the numbers in a
// chart, its text alternative and the API are the same numbers.
package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// ErrRange is returned for a range or bucket that cannot be served; its
// message says why (a 400 for the API).
var ErrRange = errors.New("usage: bad range")

// FlushInterval is how long counts wait in memory before they reach the
// aggregate (keys' batched usage flush): what a crash can lose, and how
// stale a chart can be.
const FlushInterval = 2 * time.Second

// Default spans: the last 7 days by the hour, the last 90 by the day.
const (
	HourSpan = 7 * 24 * time.Hour
	DaySpan  = 90 * 24 * time.Hour
	// MaxPoints bounds the buckets of one series (31 days by the hour, or
	// nearly three years by the day).
	MaxPoints = 31 * 24
)

// RequestOutcomes are the outcomes of API requests a key or app chart
// shows, in stacking order.
var RequestOutcomes = []string{storage.OutcomeAllowed, storage.OutcomeRateLimited, storage.OutcomeScopeDenied}

// SignInOutcomes are the instance's sign-in outcomes.
var SignInOutcomes = []string{storage.OutcomeSignIn, storage.OutcomeSignInFailed, storage.OutcomeLockout}

// Label says an outcome in words.
func Label(outcome string) string {
	switch outcome {
	case storage.OutcomeAllowed:
		return "allowed"
	case storage.OutcomeRateLimited:
		return "refused by rate limit"
	case storage.OutcomeScopeDenied:
		return "refused by scope"
	case storage.OutcomeRevoked:
		return "after revocation"
	case storage.OutcomeSignIn:
		return "succeeded"
	case storage.OutcomeSignInFailed:
		return "failed"
	case storage.OutcomeLockout:
		return "refused while locked out"
	}
	return outcome
}

// Range is a half-open time range [From, To) in whole buckets (UTC).
type Range struct {
	Bucket   string
	From, To time.Time
}

// Step is the width of one bucket.
func (r Range) Step() time.Duration {
	if r.Bucket == storage.BucketDay {
		return 24 * time.Hour
	}
	return time.Hour
}

// Len is the number of buckets.
func (r Range) Len() int { return int(r.To.Sub(r.From) / r.Step()) }

// Last is the range of the span before now that ends with now's bucket.
func Last(bucket string, span time.Duration, now time.Time) Range {
	r := Range{Bucket: bucket}
	r.To = storage.BucketStart(bucket, now).Add(r.Step())
	r.From = r.To.Add(-span)
	return r
}

// ParseRange reads the API's bucket, from and to parameters (RFC 3339
// times; empty = the default span of the bucket ending now). Times are
// rounded out to whole buckets. ErrRange, wrapped with the reason, for an
// unknown bucket, a bad time, from not before to, or more than MaxPoints
// buckets.
func ParseRange(bucket, from, to string, now time.Time) (Range, error) {
	span := HourSpan
	switch bucket {
	case "", storage.BucketHour:
		bucket = storage.BucketHour
	case storage.BucketDay:
		span = DaySpan
	default:
		return Range{}, fmt.Errorf("%w: bucket must be hour or day", ErrRange)
	}
	r := Last(bucket, span, now)
	if to != "" {
		t, err := time.Parse(time.RFC3339, to)
		if err != nil {
			return Range{}, fmt.Errorf("%w: to must be an RFC 3339 time such as 2026-11-26T00:00:00Z", ErrRange)
		}
		r.To = storage.BucketStart(bucket, t)
		if !r.To.Equal(t.UTC()) {
			r.To = r.To.Add(r.Step()) // round out: the bucket holding to is included
		}
		if from == "" {
			r.From = r.To.Add(-span)
		}
	}
	if from != "" {
		t, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return Range{}, fmt.Errorf("%w: from must be an RFC 3339 time such as 2026-11-19T00:00:00Z", ErrRange)
		}
		r.From = storage.BucketStart(bucket, t)
	}
	if !r.From.Before(r.To) {
		return Range{}, fmt.Errorf("%w: from must be before to", ErrRange)
	}
	if r.Len() > MaxPoints {
		return Range{}, fmt.Errorf("%w: at most %d %ss per request", ErrRange, MaxPoints, bucket)
	}
	return r, nil
}

// Point is one bucket: its start and a count per outcome of the series.
type Point struct {
	Start  time.Time
	Counts []int64
}

// Total is the point's count over all its outcomes.
func (p Point) Total() int64 {
	var n int64
	for _, c := range p.Counts {
		n += c
	}
	return n
}

// Series is a subject's counts over a Range, one Point per bucket.
type Series struct {
	Range
	Outcomes []string
	Points   []Point
	// Totals are the sums per outcome, aligned with Outcomes.
	Totals []int64
}

// Build lays slots out as a series over r of the given outcomes; slots
// of other outcomes or outside r are left out.
func Build(slots []storage.UsageCount, r Range, outcomes []string) Series {
	s := Series{Range: r, Outcomes: outcomes, Totals: make([]int64, len(outcomes))}
	s.Points = make([]Point, r.Len())
	for i := range s.Points {
		s.Points[i] = Point{Start: r.From.Add(time.Duration(i) * r.Step()), Counts: make([]int64, len(outcomes))}
	}
	col := map[string]int{}
	for i, o := range outcomes {
		col[o] = i
	}
	for _, c := range slots {
		j, ok := col[c.Outcome]
		i := int(c.BucketStart.UTC().Sub(r.From) / r.Step())
		if !ok || c.BucketStart.Before(r.From) || i >= len(s.Points) {
			continue
		}
		s.Points[i].Counts[j] += c.Count
		s.Totals[j] += c.Count
	}
	return s
}

// Count is the series' total of one outcome (0 when it is not shown).
func (s Series) Count(outcome string) int64 {
	for i, o := range s.Outcomes {
		if o == outcome {
			return s.Totals[i]
		}
	}
	return 0
}

// Total is the count over every outcome and bucket.
func (s Series) Total() int64 {
	var n int64
	for _, t := range s.Totals {
		n += t
	}
	return n
}

// Peak is the bucket with the highest total (the earliest of equals);
// ok is false when the series is all zero.
func (s Series) Peak() (p Point, ok bool) {
	for _, q := range s.Points {
		if q.Total() > p.Total() {
			p, ok = q, true
		}
	}
	return p, ok
}

// Store reads the aggregate.
type Store interface {
	UsageSeries(ctx context.Context, subject, subjectID, bucket string, from, to time.Time) ([]storage.UsageCount, error)
}

// Load reads one subject's series over r.
func Load(ctx context.Context, st Store, subject, id string, r Range, outcomes []string) (Series, error) {
	slots, err := st.UsageSeries(ctx, subject, id, r.Bucket, r.From, r.To)
	if err != nil {
		return Series{}, err
	}
	return Build(slots, r, outcomes), nil
}

// Summary states the series in one sentence: the span, the total, each
// outcome's count, and the busiest bucket — the text alternative of its
// chart, with the same numbers as its data table and the JSON API.
func (s Series) Summary(noun string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s, by the %s: ", FormatBucket(s.Bucket, s.From), FormatBucket(s.Bucket, s.To.Add(-s.Step())), s.Bucket)
	total := s.Total()
	if total == 0 {
		fmt.Fprintf(&b, "no %s.", plural(noun))
		return b.String()
	}
	fmt.Fprintf(&b, "%s %s", Thousands(total), pluralN(noun, total))
	parts := make([]string, 0, len(s.Outcomes))
	for i, o := range s.Outcomes {
		parts = append(parts, Thousands(s.Totals[i])+" "+Label(o))
	}
	b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	if p, ok := s.Peak(); ok {
		fmt.Fprintf(&b, "; busiest %s %s with %s", s.Bucket, FormatBucket(s.Bucket, p.Start), Thousands(p.Total()))
	}
	b.WriteString(".")
	return b.String()
}

// FormatBucket names a bucket: "26 Nov 2026 14:00 UTC" or "26 Nov 2026".
func FormatBucket(bucket string, t time.Time) string {
	if bucket == storage.BucketDay {
		return t.UTC().Format("2 Jan 2006")
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// Thousands writes n with comma separators: 12,345.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func plural(noun string) string { return noun + "s" }

func pluralN(noun string, n int64) string {
	if n == 1 {
		return noun
	}
	return plural(noun)
}
