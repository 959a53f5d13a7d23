package secret

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPasswordGateBoundsConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gate  *PasswordGate
		limit int64
	}{
		{"explicit", NewPasswordGate(3), 3},
		{"default", NewPasswordGate(0), DefaultPasswordChecks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var running, peak atomic.Int64
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					release, err := tc.gate.Enter(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					defer release()
					n := running.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(2 * time.Millisecond)
					running.Add(-1)
				})
			}
			wg.Wait()
			if p := peak.Load(); p != tc.limit {
				t.Fatalf("peak concurrency %d, want exactly %d (bounded, and the slots are used)", p, tc.limit)
			}
		})
	}
}

func TestPasswordGateCancelled(t *testing.T) {
	g := NewPasswordGate(1)
	release, err := g.Enter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enter on a full gate with an ending context = %v, want DeadlineExceeded", err)
	}
	release()
	if r, err := g.Enter(t.Context()); err != nil {
		t.Fatalf("after release: %v", err)
	} else {
		r()
	}
	var none *PasswordGate
	if r, err := none.Enter(t.Context()); err != nil {
		t.Fatalf("nil gate: %v", err)
	} else {
		r()
	}
}
