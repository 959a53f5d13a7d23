package ratelimit

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

//go:embed gcra.lua
var gcraSource string

var gcraScript = redis.NewScript(gcraSource)

// Redis is the Limiter shared by every instance using one Redis. Each
// decision is one EVALSHA of gcra.lua (EVAL once after a SCRIPT FLUSH),
// which reads the time with the Redis TIME command: instances whose
// clocks disagree still agree on every decision. State is one hash per key
// that expires when it is indistinguishable from a fresh key.
type Redis struct {
	client redis.Scripter
	prefix string
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter storing its keys under prefix in client.
func NewRedis(client redis.Scripter, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, tier Tier) (Decision, error) {
	return r.do(ctx, key, tier, true)
}

// Peek implements Limiter.
func (r *Redis) Peek(ctx context.Context, key string, tier Tier) (Decision, error) {
	return r.do(ctx, key, tier, false)
}

func (r *Redis) do(ctx context.Context, key string, tier Tier, spend bool) (Decision, error) {
	q, b := policies(tier)
	sp := 0
	if spend {
		sp = 1
	}
	res, err := gcraScript.Run(ctx, r.client, []string{r.prefix + key}, q.t, q.c, b.t, b.c, sp).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("%w: script returned %d values", ErrUnavailable, len(res))
	}
	d, _, _ := decide(tier, res[1], res[2], res[3], spend)
	// The script decided atomically; decide only derives the figures.
	d.Allowed = res[0] == 1
	return d, nil
}
