package throttle

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter is what the guessing throttles' consumers call: Failures counts
// in this process, Redis across every instance sharing one Redis.
type Counter interface {
	// Blocked reports how long the most-blocked of keys stays blocked
	// (0 = none is).
	Blocked(keys ...string) time.Duration
	// Fail counts one failure against each key.
	Fail(keys ...string)
	// Reset forgets key's failures (after a success).
	Reset(key string)
}

var (
	_ Counter = (*Failures)(nil)
	_ Counter = (*Redis)(nil)
)

// redisTimeout bounds each Redis call; past it the local fallback decides.
const redisTimeout = 500 * time.Millisecond

// blockedScript returns the longest remaining window (ms) among KEYS that
// hold ARGV[1] or more failures, else 0.
var blockedScript = redis.NewScript(`
local wait = 0
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[1]) then
    local ttl = redis.call('PTTL', k)
    if ttl > wait then wait = ttl end
  end
end
return wait`)

// failScript counts one failure per key; the first failure of a window
// starts it (PEXPIRE ARGV[1] ms), so windows are fixed, as in Failures.
var failScript = redis.NewScript(`
for i, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then redis.call('PEXPIRE', k, ARGV[1]) end
end
return 0`)

var resetScript = redis.NewScript(`return redis.call('DEL', KEYS[1])`)

// Redis is a Counter kept in Redis, so a guesser spread over several
// instances meets one limit. Each call is one script run on Redis's clock.
// When Redis does not answer within 500 ms the call is decided by a local
// Failures instead (the fallback) and onError is told, so an outage
// degrades the throttle to per-instance rather than switching it off.
type Redis struct {
	client   redis.Scripter
	prefix   string
	limit    int
	window   time.Duration
	fallback *Failures
	onError  func(error)
}

// NewRedis returns a counter allowing limit failures per key per window,
// storing its counts under prefix in client. onError (may be nil) is
// called for every Redis failure.
func NewRedis(client redis.Scripter, prefix string, limit int, window time.Duration, onError func(error)) *Redis {
	if onError == nil {
		onError = func(error) {}
	}
	return &Redis{client: client, prefix: prefix, limit: limit, window: window,
		fallback: New(limit, window, time.Now), onError: onError}
}

func (r *Redis) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = r.prefix + k
	}
	return out
}

// Blocked implements Counter.
func (r *Redis) Blocked(keys ...string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	ms, err := blockedScript.Run(ctx, r.client, r.keys(keys), r.limit).Int64()
	if err != nil {
		r.onError(err)
		return r.fallback.Blocked(keys...)
	}
	return time.Duration(ms) * time.Millisecond
}

// Fail implements Counter.
func (r *Redis) Fail(keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := failScript.Run(ctx, r.client, r.keys(keys), r.window.Milliseconds()).Err(); err != nil {
		r.onError(err)
		r.fallback.Fail(keys...)
	}
}

// Reset implements Counter.
func (r *Redis) Reset(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := resetScript.Run(ctx, r.client, r.keys([]string{key})).Err(); err != nil {
		r.onError(err)
	}
	r.fallback.Reset(key)
}
