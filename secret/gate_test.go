package secret

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runMiB is one argon2id run's memory with the current parameters.
const runMiB = argonMemory / 1024

func TestPasswordGateBoundsConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gate  *PasswordGate
		limit int64
	}{
		{"budget for three", NewPasswordGate(3 * runMiB), 3},
		{"budget just short of three", NewPasswordGate(3*runMiB - 1), 2},
		{"budget below one run", NewPasswordGate(1), 1},
		{"default is two", NewPasswordGate(0), 2},
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
			if got := tc.gate.Checks(); int64(got) != tc.limit {
				t.Errorf("Checks() = %d, want %d", got, tc.limit)
			}
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

// TestPasswordGateWeighsLegacyHashes: a check of a legacy 64 MiB hash that
// will be re-hashed takes 64 + 12 MiB of the budget (capped at the whole
// budget): beside it no current-parameter check fits in a 64 MiB budget,
// and four do in a 128 MiB one (52 MiB left).
func TestPasswordGateWeighsLegacyHashes(t *testing.T) {
	legacy, err := hashPasswordWith(LegacyPasswordParams, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		budgetMiB int
		room      int // current-parameter checks that fit beside the legacy one
	}{
		{"64 MiB", 64, 0},
		{"128 MiB", 128, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewPasswordGate(tc.budgetMiB)
			w := min(hashMemoryKiB(legacy)+argonMemory, g.budgetKiB)
			if !g.sem.TryAcquire(w) {
				t.Fatal("the legacy check's slot does not fit an empty gate")
			}
			n := 0
			for g.sem.TryAcquire(argonMemory) {
				n++
			}
			if n != tc.room {
				t.Fatalf("%d current checks fit beside a legacy check and its re-hash, want %d", n, tc.room)
			}
		})
	}
}
