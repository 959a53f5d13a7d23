// Package ratelimit enforces Latchkey's API rate-limit tiers (SPEC §3.6).
// A Limiter decides per key and tier: Memory keeps the state in this
// process, Redis in one Redis shared by every instance (the same algorithm
// as a Lua script), and Observed reports the decisions a limiter could not
// make. A Decision also writes the rate-limit response headers.
//
// # Algorithm
//
// Each tier is two GCRA policies (the Generic Cell Rate Algorithm of ITU-T
// I.371, a token bucket written as a single timestamp): the hourly quota
// and the burst. GCRA was chosen over a token bucket with a counter and a
// refill time, or sliding-window counters, because it keeps one timestamp
// per policy and key (the "theoretical arrival time", TAT), decides in O(1)
// with integer arithmetic, is exact (no window edges, no approximation),
// and is small enough to run unchanged as one Redis Lua script, so the
// in-memory and the shared limiter give the same answers.
//
// # Definitions
//
// A policy has a capacity C and an emission interval T. A request at time
// now is allowed when max(TAT, now) + T − now ≤ C·T; when it is allowed and
// spent, TAT becomes max(TAT, now) + T. So an idle key may make C requests
// back-to-back, and capacity returns at one request per T.
//
//   - Quota: C = requests_per_hour (H), T = 1h / H. A tier with H = 0 has no
//     quota (unlimited per hour).
//   - Burst: C = burst (B), T = BurstWindow / B (API tiers: one second / B). An idle key
//     may make B requests back-to-back; the burst allowance refills fully in
//     BurstWindow. Enterprise (H = 0, B = 1000) is therefore limited only to
//     1000 requests back-to-back and 1000 per second sustained.
//
// A request is allowed only when both policies allow it; a refused request
// spends nothing. Remaining of a policy is floor((C·T − max(TAT − now, 0)) / T):
// the number of further requests that policy allows right now. It counts
// down by exactly one per allowed request and is 0 exactly when that policy
// starts refusing. Reset is max(TAT, now): when the policy is full again.
// RetryAfter, on refusal, is the time until both policies allow again.
//
// Times are kept in whole microseconds (Redis TIME's resolution).
package ratelimit

import (
	"context"
	"errors"
	"time"
)

// BurstWindow is how long an emptied burst allowance takes to refill.
const BurstWindow = time.Second

// QuotaWindow is the period of requests_per_hour.
const QuotaWindow = time.Hour

// ErrUnavailable wraps failures of the shared store (Redis unreachable).
var ErrUnavailable = errors.New("ratelimit: limiter unavailable")

// Tier is a rate-limit tier: PerHour requests per hour (0 = unlimited)
// and Burst requests back-to-back (at least 1), the burst refilling fully
// in BurstWindow (0 means the package's BurstWindow, one second). The
// token endpoint's per-client limit is Tier{Burst: N, BurstWindow: time.Minute}:
// N back-to-back and N per minute.
type Tier struct {
	Name        string
	PerHour     int
	Burst       int
	BurstWindow time.Duration
}

func (t Tier) burstWindow() time.Duration {
	if t.BurstWindow > 0 {
		return t.BurstWindow
	}
	return BurstWindow
}

// Decision is the outcome of one Allow or Peek.
type Decision struct {
	// Allowed reports whether the request may proceed (Peek: whether one
	// would be allowed now).
	Allowed bool
	Tier    Tier
	// Now is the limiter's clock at the decision (Redis: the server's).
	Now time.Time
	// Remaining is the quota's Remaining after this request; for an
	// unlimited tier (PerHour 0) it is the burst's.
	Remaining int
	// Reset is when the quota is full again (unlimited: the burst).
	Reset time.Time
	// BurstRemaining and BurstReset are the burst policy's figures.
	BurstRemaining int
	BurstReset     time.Time
	// RetryAfter is, on refusal, how long until a request is allowed; 0
	// when Allowed.
	RetryAfter time.Duration
}

// Limit is the quota reported in X-RateLimit-Limit: PerHour, or Burst for
// an unlimited tier.
func (d Decision) Limit() int {
	if d.Tier.PerHour > 0 {
		return d.Tier.PerHour
	}
	return d.Tier.Burst
}

// Available is how many more requests would be allowed right now:
// min(Remaining, BurstRemaining). It is 0 exactly when refusals start.
func (d Decision) Available() int {
	return min(d.Remaining, d.BurstRemaining)
}

// Limiter decides rate limits per key. Implementations are safe for
// concurrent use; a key's budget is shared by every caller of Allow with
// that key (for the Redis limiter, by every instance sharing the Redis).
type Limiter interface {
	// Allow decides one request for key and spends it when allowed. A
	// refused request spends nothing. An error (wrapping ErrUnavailable)
	// means no decision could be made.
	Allow(ctx context.Context, key string, tier Tier) (Decision, error)
	// Peek reports the state Allow would start from, spending nothing.
	Peek(ctx context.Context, key string, tier Tier) (Decision, error)
}

// policy is one GCRA: capacity c requests, emission interval t µs.
type policy struct{ t, c int64 }

func policies(tier Tier) (quota, burst policy) {
	if tier.PerHour > 0 {
		quota = policy{t: QuotaWindow.Microseconds() / int64(tier.PerHour), c: int64(tier.PerHour)}
		if quota.t < 1 {
			quota.t = 1
		}
	}
	b := max(int64(tier.Burst), 1)
	burst = policy{t: max(tier.burstWindow().Microseconds()/b, 1), c: b}
	return quota, burst
}

// earliest is the first time a request is allowed given tat.
func (p policy) earliest(tat int64) int64 { return tat + p.t - p.c*p.t }

func (p policy) remaining(now, tat int64) int {
	return int((p.c*p.t - max(tat-now, 0)) / p.t)
}

// decide runs both GCRAs at now (µs) from the stored TATs; spend applies an
// allowed request. It returns the decision and the new TATs. This is the
// one place the algorithm lives in Go; script.lua mirrors it.
func decide(tier Tier, now, tatQ, tatB int64, spend bool) (Decision, int64, int64) {
	q, b := policies(tier)
	limited := tier.PerHour > 0
	retryAt := max(now, b.earliest(tatB))
	if limited {
		retryAt = max(retryAt, q.earliest(tatQ))
	}
	allowed := retryAt <= now
	if allowed && spend {
		tatB = max(tatB, now) + b.t
		if limited {
			tatQ = max(tatQ, now) + q.t
		}
	}
	d := Decision{
		Allowed:        allowed,
		Tier:           tier,
		Now:            time.UnixMicro(now),
		BurstRemaining: b.remaining(now, tatB),
		BurstReset:     time.UnixMicro(max(tatB, now)),
	}
	if limited {
		d.Remaining, d.Reset = q.remaining(now, tatQ), time.UnixMicro(max(tatQ, now))
	} else {
		d.Remaining, d.Reset = d.BurstRemaining, d.BurstReset
	}
	if !allowed {
		d.RetryAfter = time.Duration(retryAt-now) * time.Microsecond
	}
	return d, tatQ, tatB
}

// expiry is how long the state for these TATs matters: after it the key
// is indistinguishable from a fresh one, so forgetting it is exact.
func expiry(now, tatQ, tatB int64) time.Duration {
	return time.Duration(max(tatQ, tatB)-now) * time.Microsecond
}
