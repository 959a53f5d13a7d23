package ratelimit

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestObserved(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	tests := []struct {
		name   string
		l      Limiter
		errors int
	}{
		{"working limiter", NewMemory(nil), 0},
		{"unreachable Redis", NewRedis(c, "x:"), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []error
			l := Observed(tc.l, func(err error) { seen = append(seen, err) })
			if _, err := l.Allow(t.Context(), "k", free); (err != nil) != (tc.errors > 0) {
				t.Fatalf("Allow: %v", err)
			}
			if _, err := l.Peek(t.Context(), "k", free); (err != nil) != (tc.errors > 0) {
				t.Fatalf("Peek: %v", err)
			}
			if len(seen) != tc.errors {
				t.Fatalf("observed %d errors, want %d", len(seen), tc.errors)
			}
			for _, err := range seen {
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("observed %v, want ErrUnavailable", err)
				}
			}
		})
	}
	if l := NewMemory(nil); Observed(l, nil) != Limiter(l) {
		t.Error("Observed with no callback should return the limiter itself")
	}
}
