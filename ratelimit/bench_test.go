package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkMemoryAllow: one key, one goroutine.
func BenchmarkMemoryAllow(b *testing.B) {
	l := NewMemory(nil)
	ctx := context.Background()
	for b.Loop() {
		_, _ = l.Allow(ctx, "key", enterprise)
	}
}

// BenchmarkMemoryAllowParallel: 10,000 keys, all CPUs.
func BenchmarkMemoryAllowParallel(b *testing.B) {
	l := NewMemory(nil)
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "key" + strconv.Itoa(i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = l.Allow(context.Background(), keys[i%len(keys)], enterprise)
			i++
		}
	})
}

// BenchmarkRedisAllow: one EVALSHA round trip per decision.
func BenchmarkRedisAllow(b *testing.B) {
	c, prefix := testRedis(b)
	l := NewRedis(c, prefix)
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Allow(ctx, "key", enterprise); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisAllowParallel: many concurrent decisions over the pool.
func BenchmarkRedisAllowParallel(b *testing.B) {
	c, prefix := testRedis(b)
	l := NewRedis(c, prefix)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(context.Background(), "key", enterprise); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSetHeaders: formatting the five rate-limit fields of a response.
func BenchmarkSetHeaders(b *testing.B) {
	d, _ := NewMemory(nil).Allow(context.Background(), "key", free)
	h := make(http.Header, 8)
	for b.Loop() {
		d.SetHeaders(h)
	}
}
