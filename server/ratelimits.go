package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/api"
	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/throttle"
)

// newLimiter returns the limiter behind the API tiers and the token
// endpoint (SPEC §3.6): shared through Redis when redis.url is set (the
// client is returned for closing), else in memory.
func newLimiter(cfg *config.Config, log *slog.Logger) (ratelimit.Limiter, *redis.Client, error) {
	if cfg.Redis.URL == "" {
		return ratelimit.NewMemory(nil), nil, nil
	}
	opt, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis.url: %w", err)
	}
	rdb := redis.NewClient(opt)
	log.Info("rate limits shared through Redis", "addr", opt.Addr, "fail_open", cfg.RateLimits.FailOpen)
	return ratelimit.NewRedis(rdb, cfg.Redis.KeyPrefix+"rl:"), rdb, nil
}

// apiRateLimits wires the API tiers.
func (a *App) apiRateLimits() *api.RateLimits {
	rc := a.cfg.RateLimits
	tiers := make(map[string]ratelimit.Tier, len(rc.Tiers))
	for _, t := range rc.Tiers {
		tiers[t.Name] = ratelimit.Tier{Name: t.Name, PerHour: t.RequestsPerHour, Burst: t.Burst}
	}
	return &api.RateLimits{
		Limiter: a.limiter, Tiers: tiers, DefaultTier: rc.DefaultTier, FailOpen: rc.FailOpen,
		KeyTier: (&keyTiers{entries: map[string]keyTierEntry{}, get: a.db.GetAPIKey, now: time.Now}).tier,
		// Clients are read through the storage read cache (storage.cache_ttl,
		// invalidated on every change), organizations through the rights
		// cache: an organization's app without a tier inherits its
		// organization's.
		ClientTier: func(ctx context.Context, id string) (string, error) {
			c, err := a.db.GetClient(ctx, id)
			if err != nil {
				return "", err
			}
			if c.Tier == "" && c.OrgID != "" && a.orgs != nil {
				return a.orgs.OrgTier(ctx, c.OrgID)
			}
			return c.Tier, nil
		},
		Logger: a.log,
	}
}

// tokenLimit limits /oauth/token per authenticated client to
// rate_limits.token_per_minute (N back-to-back, N per minute), reporting
// each refusal to refused ("token_endpoint"). An unavailable limiter
// follows rate_limits.fail_open, logged.
func tokenLimit(cfg *config.Config, lim ratelimit.Limiter, log *slog.Logger, refused func(scope string)) func(context.Context, string) (time.Duration, error) {
	tier := ratelimit.Tier{Name: "token", Burst: cfg.RateLimits.TokenPerMinute, BurstWindow: time.Minute}
	failOpen := cfg.RateLimits.FailOpen
	return func(ctx context.Context, clientID string) (time.Duration, error) {
		d, err := lim.Allow(ctx, "token-client:"+clientID, tier)
		if err != nil {
			log.WarnContext(ctx, "rate limiter unavailable (token endpoint)", "error", err, "fail_open", failOpen)
			if failOpen {
				return 0, nil
			}
			return 0, err
		}
		if !d.Allowed {
			refused("token_endpoint")
			return d.RetryAfter, nil
		}
		return 0, nil
	}
}

// keyTiers caches the tier of the keys behind API tokens for a second, so
// a token-authenticated request costs no query (a tier change reaches the
// limiter within that second).
type keyTiers struct {
	mu      sync.Mutex
	entries map[string]keyTierEntry
	get     func(ctx context.Context, id string) (*storage.APIKey, error)
	now     func() time.Time
}

type keyTierEntry struct {
	tier string
	exp  time.Time
}

// keyTierCacheMax bounds the cache; past it the cache starts afresh.
const keyTierCacheMax = 50_000

// tier returns the tier of the key with id ("" when the key is gone).
func (c *keyTiers) tier(ctx context.Context, id string) (string, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.tier, nil
	}
	k, err := c.get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.entries) >= keyTierCacheMax {
		clear(c.entries)
	}
	c.entries[id] = keyTierEntry{tier: k.Tier, exp: now.Add(time.Second)}
	c.mu.Unlock()
	return k.Tier, nil
}

// guessingThrottle counts failed password or credential checks per
// username and per client IP, limit per minute: in Redis when redis.url is
// set, so the limit holds across every instance (with a per-instance
// fallback while Redis is unreachable), else in this process.
func (a *App) guessingThrottle(name string, limit int) throttle.Counter {
	return newGuessingThrottle(a.cfg, a.redis, a.metrics, a.log, name, limit)
}

func newGuessingThrottle(cfg *config.Config, rdb *redis.Client, m *metrics.Metrics, log *slog.Logger, name string, limit int) throttle.Counter {
	return newWindowThrottle(cfg, rdb, m, log, name, limit, time.Minute)
}

// newWindowThrottle is newGuessingThrottle with limit failures per window.
func newWindowThrottle(cfg *config.Config, rdb *redis.Client, m *metrics.Metrics, log *slog.Logger, name string, limit int, window time.Duration) throttle.Counter {
	if rdb == nil {
		return throttle.New(limit, window, time.Now)
	}
	var failures atomic.Int64
	return throttle.NewRedis(rdb, cfg.Redis.KeyPrefix+"fail:"+name, limit, window, func(err error) {
		m.RateLimitBackendError()
		if n := failures.Add(1); n == 1 || n%100 == 0 { // a down Redis must not flood the log
			log.Warn("guessing throttle: Redis unreachable; counting in this instance", "throttle", name, "failures", n, "error", err)
		}
	})
}
