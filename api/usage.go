package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/usage"
)

// outcomeKey holds a request's usage outcome when a check refused it
// (storage.OutcomeRateLimited, storage.OutcomeScopeDenied); absent, the
// request was allowed.
const outcomeKey = "latchkey.outcome"

// refused notes why the request was refused, for CountRequests.
func refused(c *gin.Context, outcome string) { c.Set(outcomeKey, outcome) }

// CountRequests counts every authenticated API request in the usage
// aggregate once it is answered (Config.CountUsage): a request with an
// API key, or with an API token exchanged from one, under the key; a
// request with an OAuth access token under its client (a person's token
// and the client's own); sessions and HTTP Basic under neither. The
// outcome is rate_limited when RateLimit refused it, scope_denied when
// Require, RequireUser or RequireResourceServer did, else allowed
// (whatever the handler then answered). Mount it after Authenticate and
// before RateLimit. It adds one in-memory increment per request; the
// count reaches the database with the batched usage flush.
func (h *Handler) CountRequests() gin.HandlerFunc {
	count := h.cfg.CountUsage
	return func(c *gin.Context) {
		c.Next()
		p := principal(c)
		if count == nil || p == nil {
			return
		}
		subject, id := storage.UsageKey, p.KeyID
		if id == "" {
			subject, id = storage.UsageClient, p.ClientID
		}
		if id == "" {
			return
		}
		outcome := storage.OutcomeAllowed
		if o, ok := c.Get(outcomeKey); ok {
			outcome, _ = o.(string)
		}
		count(subject, id, outcome)
	}
}

// keyUsageOutcomes are the outcomes GET /user/keys/{handle}/usage reports:
// the requests', and uses of the key after its revocation.
var keyUsageOutcomes = append(append([]string{}, usage.RequestOutcomes...), storage.OutcomeRevoked)

type usageCounts struct {
	Allowed     int64 `json:"allowed"`
	RateLimited int64 `json:"rate_limited"`
	ScopeDenied int64 `json:"scope_denied"`
	Revoked     int64 `json:"revoked"`
}

func countsOf(c []int64) usageCounts {
	return usageCounts{Allowed: c[0], RateLimited: c[1], ScopeDenied: c[2], Revoked: c[3]}
}

type usagePoint struct {
	Start time.Time `json:"start"`
	usageCounts
}

type keyUsageView struct {
	KeyID                string       `json:"key_id"`
	Handle               string       `json:"handle"`
	Bucket               string       `json:"bucket"`
	From                 time.Time    `json:"from"`
	To                   time.Time    `json:"to"`
	FlushIntervalSeconds int          `json:"flush_interval_seconds"`
	Totals               usageCounts  `json:"totals"`
	Points               []usagePoint `json:"points"`
}

// KeyUsage serves GET /user/keys/{handle}/usage?from=…&to=…&bucket=hour|day:
// the key's requests per bucket over [from, to) (default: the last 7 days
// by the hour, the last 90 by the day), every bucket listed, split by
// outcome. Counts reach the aggregate with the batched usage flush, so the
// newest usage.FlushInterval may be missing. 400 invalid_request for a bad
// range.
func (h *Handler) KeyUsage(c *gin.Context) {
	p := principal(c)
	ctx := c.Request.Context()
	k, err := h.reachableKey(ctx, p, c.Param("handle"))
	if err != nil {
		h.keyError(c, err)
		return
	}
	r, err := usage.ParseRange(c.Query("bucket"), c.Query("from"), c.Query("to"), h.cfg.Now())
	if err != nil {
		writeError(c, http.StatusBadRequest, "invalid_request", rangeMessage(err))
		return
	}
	if h.cfg.Usage == nil {
		writeError(c, http.StatusNotFound, "not_found", "Usage is not recorded on this server.")
		return
	}
	s, err := usage.Load(ctx, h.cfg.Usage, storage.UsageKey, k.ID, r, keyUsageOutcomes)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "key usage", "error", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "Usage cannot be read right now.")
		return
	}
	v := keyUsageView{KeyID: k.ID, Handle: k.Handle, Bucket: r.Bucket, From: r.From, To: r.To,
		FlushIntervalSeconds: int(usage.FlushInterval / time.Second), Totals: countsOf(s.Totals),
		Points: make([]usagePoint, len(s.Points))}
	for i, pt := range s.Points {
		v.Points[i] = usagePoint{Start: pt.Start, usageCounts: countsOf(pt.Counts)}
	}
	c.JSON(http.StatusOK, v)
}

// rangeMessage is the sentence of a usage.ErrRange ("usage: bad range: why").
func rangeMessage(err error) string {
	msg := err.Error()
	if p := usage.ErrRange.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		msg = msg[len(p):]
	}
	return "The usage range is not valid: " + msg + "."
}

// KeyLimit reports the rate-limit state of an API key without spending
// it: the figures its next request's X-RateLimit-* headers would carry
// (before that request). ok is false when rate limiting is off.
func (h *Handler) KeyLimit(ctx context.Context, k *storage.APIKey) (d ratelimit.Decision, ok bool, err error) {
	if rl := h.cfg.RateLimits; rl == nil || rl.Limiter == nil {
		return d, false, nil
	}
	d, err = h.keyLimit(ctx, k.ID, k.Tier)
	if err != nil {
		return d, false, errors.Join(errors.New("api: key limit"), err)
	}
	return d, true, nil
}

// UsageStore is what the usage endpoints read (storage.UsageStore and the
// overview's lookups).
type UsageStore interface {
	usage.OverviewStore
}
