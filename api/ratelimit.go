package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/storage"
)

// RateLimits configures the per-credential API limits (SPEC §3.6).
type RateLimits struct {
	Limiter ratelimit.Limiter
	// Tiers by name; DefaultTier applies to credentials without one
	// (OAuth clients, sessions, passwords, and keys naming an unknown tier).
	Tiers       map[string]ratelimit.Tier
	DefaultTier string
	// FailOpen decides what happens when the limiter cannot decide (Redis
	// unreachable): true lets the request through without rate-limit
	// headers, false answers 503 {"error":"unavailable",...}. Either way the
	// failure is logged and counted (Handler.LimiterFailures).
	FailOpen bool
	// KeyTier returns the tier of the API key with this id; it is used for
	// API tokens exchanged from a key, which share the key's budget. An
	// organization key's "" (inherit) is resolved through the
	// credential's rights (Principal.Rights.OrgTier).
	KeyTier func(ctx context.Context, keyID string) (string, error)
	// ClientTier returns the tier of an OAuth client, for its
	// client_credentials tokens' and its people's tokens' budgets, and as
	// the highest tier of keys its tokens create or rotate into; nil means
	// the default tier. For an organization's app without a tier of its
	// own it is the organization's tier ("" = the default).
	ClientTier func(ctx context.Context, clientID string) (string, error)
	Logger     *slog.Logger
}

// limiterFailures counts decisions the limiter could not make.
type limiterFailures struct{ n atomic.Int64 }

// LimiterFailures reports how many requests met an unavailable limiter.
func (h *Handler) LimiterFailures() int64 { return h.limitFailures.n.Load() }

// RateLimit limits every authenticated request by its credential: the API
// key id (an API token counts against the key it was exchanged from), else
// the OAuth client — per person for a token the client holds for a user,
// the client's own budget for a client_credentials token — else the user id. Every response after it carries
// the rate-limit headers (ratelimit.Decision.SetHeaders), including 4xx
// answers of later handlers; a refusal is 429 with Retry-After and
// {"error":"rate_limit_exceeded","message":"Rate limit exceeded. Try again in N seconds."}.
func (h *Handler) RateLimit() gin.HandlerFunc {
	rl := h.cfg.RateLimits
	return func(c *gin.Context) {
		p := principal(c)
		if rl == nil || rl.Limiter == nil || p == nil {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		key, tier := h.limitKey(ctx, p)
		d, err := rl.Limiter.Allow(ctx, key, tier)
		if err != nil {
			n := h.limitFailures.n.Add(1)
			h.limitLogger().WarnContext(ctx, "rate limiter unavailable", "error", err, "fail_open", rl.FailOpen, "failures", n)
			if rl.FailOpen {
				c.Next()
				return
			}
			writeError(c, http.StatusServiceUnavailable, "unavailable", "Rate limits cannot be checked right now; try again shortly.")
			return
		}
		d.SetHeaders(c.Writer.Header())
		if !d.Allowed {
			refused(c, storage.OutcomeRateLimited)
			h.rateLimited(refusalScope(p, d))
			writeError(c, http.StatusTooManyRequests, "rate_limit_exceeded", d.Message())
			return
		}
		c.Next()
	}
}

// refusalScope names the limit that refused p: its budget (api_key,
// client or user, as limitKey chooses) and the policy, the hourly quota
// when it is spent, else the burst.
func refusalScope(p *Principal, d ratelimit.Decision) string {
	budget := "user"
	switch {
	case p.KeyID != "":
		budget = "api_key"
	case p.ClientID != "":
		budget = "client"
	}
	if d.Tier.PerHour > 0 && d.Remaining == 0 {
		return budget + "_quota"
	}
	return budget + "_burst"
}

// rateLimited reports a 429 to Config.OnRateLimited.
func (h *Handler) rateLimited(scope string) {
	if f := h.cfg.OnRateLimited; f != nil {
		f(scope)
	}
}

func (h *Handler) limitLogger() *slog.Logger {
	if l := h.cfg.RateLimits.Logger; l != nil {
		return l
	}
	return slog.Default()
}

// limitKey names the budget a principal spends and its tier.
func (h *Handler) limitKey(ctx context.Context, p *Principal) (string, ratelimit.Tier) {
	switch {
	case p.KeyID != "":
		name := ""
		if p.Key != nil {
			name = p.Key.Tier
		} else if f := h.cfg.RateLimits.KeyTier; f != nil {
			var err error
			if name, err = f(ctx, p.KeyID); err != nil {
				h.limitLogger().WarnContext(ctx, "key tier lookup failed; using the default tier", "error", err)
			}
		}
		if name == "" && p.Rights != nil {
			// An organization key without a tier of its own inherits its
			// organization's ("" there too = the default tier).
			name = p.Rights.OrgTier
		}
		return "key:" + p.KeyID, h.tier(name)
	case p.ClientID != "":
		name := ""
		if f := h.cfg.RateLimits.ClientTier; f != nil {
			var err error
			if name, err = f(ctx, p.ClientID); err != nil {
				h.limitLogger().WarnContext(ctx, "client tier lookup failed; using the default tier", "error", err)
			}
		}
		if p.UserID != "" {
			// A delegated token: each person using the app has a budget of
			// the client's tier, so one person's traffic never spends
			// another's.
			return "client:" + p.ClientID + ":user:" + p.UserID, h.tier(name)
		}
		return "client:" + p.ClientID, h.tier(name)
	default:
		return "user:" + p.UserID, h.tier("")
	}
}

// keyLimit reports the limit state of an API key without spending it.
func (h *Handler) keyLimit(ctx context.Context, keyID, tierName string) (ratelimit.Decision, error) {
	return h.cfg.RateLimits.Limiter.Peek(ctx, "key:"+keyID, h.tier(tierName))
}

func (h *Handler) tier(name string) ratelimit.Tier {
	rl := h.cfg.RateLimits
	if t, ok := rl.Tiers[name]; ok {
		return t
	}
	return rl.Tiers[rl.DefaultTier]
}

// credentialBlocked reports how long the failure throttle blocks key and
// sets Retry-After when it does.
func (h *Handler) credentialBlocked(c *gin.Context, key string) time.Duration {
	f := h.cfg.CredentialFailures
	if f == nil {
		return 0
	}
	wait := f.Blocked(key)
	if wait > 0 {
		h.rateLimited("credential_guessing")
		c.Header("Retry-After", strconv.FormatInt(ceilSeconds(wait), 10))
	}
	return wait
}

func (h *Handler) credentialFailed(key string) {
	if f := h.cfg.CredentialFailures; f != nil {
		f.Fail(key)
	}
}

func ceilSeconds(d time.Duration) int64 { return max(int64((d+time.Second-1)/time.Second), 1) }

// retryMessage is the 429 message for a throttled source; N matches Retry-After.
func retryMessage(wait time.Duration) string {
	return fmt.Sprintf("Too many failed attempts. Try again in %d seconds.", ceilSeconds(wait))
}
