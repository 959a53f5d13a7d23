package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ceilSeconds rounds a positive duration up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// ceilUnix is t in epoch seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// RetryAfterSeconds is Retry-After for a refusal: the whole seconds (rounded
// up, at least 1) until a request will be allowed; 0 when allowed.
func (d Decision) RetryAfterSeconds() int64 {
	if d.Allowed {
		return 0
	}
	return max(ceilSeconds(d.RetryAfter), 1)
}

// ResetUnix is X-RateLimit-Reset: the epoch second (rounded up) at which
// the quota is full again.
func (d Decision) ResetUnix() int64 { return ceilUnix(d.Reset) }

// BurstPolicyName names the burst policy in the RateLimit fields.
func (d Decision) BurstPolicyName() string { return d.Tier.Name + "-burst" }

// SetHeaders writes the rate-limit fields of d on h:
//
//	X-RateLimit-Limit:     the tier's requests per hour (burst if unlimited)
//	X-RateLimit-Remaining: Decision.Remaining
//	X-RateLimit-Reset:     Decision.ResetUnix
//	RateLimit-Policy:      "<tier>";q=<H>;w=3600, "<tier>-burst";q=<B>;w=1 (w: the burst window)
//	RateLimit:             "<tier>";r=<remaining>;t=<s>, "<tier>-burst";r=<burst remaining>;t=<s>
//	Retry-After:           on refusal only (RFC 9110 §10.2.3)
//
// RateLimit-Policy and RateLimit follow draft-ietf-httpapi-ratelimit-headers-08
// §3 and §4: one list member per policy, named by the tier, with q (quota),
// w (window, seconds), r (remaining) and t (seconds until the policy is
// full again, rounded up). An unlimited tier lists only its burst policy.
func (d Decision) SetHeaders(h http.Header) {
	// Canonical keys assigned directly: this runs on every API response.
	h["X-Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit())}
	h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(d.ResetUnix(), 10)}
	policy := make([]byte, 0, 96)
	state := make([]byte, 0, 96)
	if d.Tier.PerHour > 0 {
		policy = appendItem(policy, d.Tier.Name, "", ";q=", int64(d.Tier.PerHour), ";w=", int64(QuotaWindow/time.Second))
		state = appendItem(state, d.Tier.Name, "", ";r=", int64(d.Remaining), ";t=", ceilSeconds(d.Reset.Sub(d.Now)))
		policy = append(policy, ", "...)
		state = append(state, ", "...)
	}
	policy = appendItem(policy, d.Tier.Name, "-burst", ";q=", int64(d.Tier.Burst), ";w=", ceilSeconds(d.Tier.burstWindow()))
	state = appendItem(state, d.Tier.Name, "-burst", ";r=", int64(d.BurstRemaining), ";t=", ceilSeconds(d.BurstReset.Sub(d.Now)))
	h["Ratelimit-Policy"] = []string{string(policy)}
	h["Ratelimit"] = []string{string(state)}
	if !d.Allowed {
		h["Retry-After"] = []string{strconv.FormatInt(d.RetryAfterSeconds(), 10)}
	}
}

// appendItem appends one structured-field list member: "name";k1=v1;k2=v2.
// Tier names are lower-case letters, digits, '-' and '_' (config
// validation), so they need no escaping inside the quoted string.
func appendItem(b []byte, name, suffix, k1 string, v1 int64, k2 string, v2 int64) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, suffix...)
	b = append(b, '"')
	b = append(b, k1...)
	b = strconv.AppendInt(b, v1, 10)
	b = append(b, k2...)
	return strconv.AppendInt(b, v2, 10)
}

// Message is the refusal message of the 429 body (SPEC §3.6); N equals
// Retry-After.
func (d Decision) Message() string {
	return fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", d.RetryAfterSeconds())
}
