package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/storage"
)

// newMetrics builds the registry /metrics serves — with the Go runtime and
// process collectors — and Latchkey's metrics on it; both are nil when
// metrics.enabled is false (a nil *metrics.Metrics records nothing, so its
// methods can be wired as callbacks either way).
func newMetrics(cfg *config.Config) (*prometheus.Registry, *metrics.Metrics, error) {
	if !cfg.Metrics.Enabled {
		return nil, nil, nil
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, err
	}
	m, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, m, nil
}

// watchMetrics registers what is read when /metrics is scraped: the
// verification and read caches' counters and the database pools.
func (a *App) watchMetrics() error {
	if a.metrics == nil {
		return nil
	}
	a.metrics.Cache("api_keys", a.keys.CacheStats)
	a.metrics.Cache("access_tokens", a.provider.TokenCacheStats)
	a.metrics.Cache("users", func() (uint64, uint64) { u, _ := a.db.CacheStats(); return u.Hits, u.Misses })
	a.metrics.Cache("clients", func() (uint64, uint64) { _, c := a.db.CacheStats(); return c.Hits, c.Misses })
	pools, err := a.db.Pools()
	if err != nil {
		return err
	}
	for name, p := range pools {
		if err := a.metrics.DBPool(name, p); err != nil {
			return err
		}
	}
	return nil
}

// observability returns the server's metrics and readiness dependencies.
func (a *App) observability(d Deps) Deps {
	if a.metrics != nil {
		d.Metrics = metrics.Handler(a.registry, a.cfg.Metrics.Token)
		d.Observer = a.metrics
	}
	if a.redis != nil {
		rdb := a.redis
		d.Redis = PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
		// Failing closed, every rate-limited request is refused while
		// Redis is down: the instance is not ready.
		d.RedisRequired = !a.cfg.RateLimits.FailOpen
	}
	return d
}

// listenerGauge reports the invalidation listener's state to
// invalidation_listener_up (the alert rule InvalidationListenerDown).
type listenerGauge struct{ m *metrics.Metrics }

func (g listenerGauge) Invalidate(storage.Invalidation) {}
func (g listenerGauge) SetListening(ok bool)            { g.m.InvalidationListening(ok) }
