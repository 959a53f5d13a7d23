package ratelimit

import (
	"context"
)

// Observed returns l with onError called once for every decision l could
// not make (an error from Allow or Peek, such as an unreachable Redis),
// so the failures can be counted wherever the limiter is used.
func Observed(l Limiter, onError func(error)) Limiter {
	if onError == nil {
		return l
	}
	return observed{l: l, onError: onError}
}

type observed struct {
	l       Limiter
	onError func(error)
}

func (o observed) Allow(ctx context.Context, key string, tier Tier) (Decision, error) {
	d, err := o.l.Allow(ctx, key, tier)
	if err != nil {
		o.onError(err)
	}
	return d, err
}

func (o observed) Peek(ctx context.Context, key string, tier Tier) (Decision, error) {
	d, err := o.l.Peek(ctx, key, tier)
	if err != nil {
		o.onError(err)
	}
	return d, err
}
