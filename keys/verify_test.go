package keys

import (
	"slices"
	"testing"
	"time"
)

// TestVerifyResultsAndCacheStats checks the result reported for each kind
// of presented key and the cache's hit and miss counts.
func TestVerifyResultsAndCacheStats(t *testing.T) {
	s, cs, clk, _ := newService(t, false)
	ctx := t.Context()
	var results []string
	s.cfg.OnVerify = func(r string) { results = append(results, r) }
	_, live, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "live", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, gone, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, "u1", "gone", owner, ""); err != nil {
		t.Fatal(err)
	}
	unknown, _ := NewFormat("lk").New(EnvTest)
	badSum := live[:len(live)-1] + map[bool]string{true: "1", false: "0"}[live[len(live)-1] == '0']

	for _, raw := range []string{live, live, "lk_live_short", badSum, unknown, unknown, gone} {
		_, _ = s.Verify(ctx, raw, "")
	}
	clk.add(2 * time.Hour) // past the cache TTL and the key's expiry
	_, _ = s.Verify(ctx, live, "")
	_ = cs.Close() // the next lookup fails
	other, _ := NewFormat("lk").New(EnvLive)
	_, _ = s.Verify(ctx, other, "")

	want := []string{VerifyValid, VerifyValid, VerifyMalformed, VerifyMalformed, VerifyNotFound, VerifyNotFound,
		VerifyRevoked, VerifyExpired, VerifyError}
	if !slices.Equal(results, want) {
		t.Errorf("results %v, want %v", results, want)
	}
	// Lookups past the format check: live (miss, hit), unknown (miss, hit),
	// gone (miss), live after the TTL (miss),
	// other (miss).
	if hits, misses := s.CacheStats(); hits != 2 || misses != 5 {
		t.Errorf("cache hits %d misses %d, want 2 and 5", hits, misses)
	}
	if n := cs.lookups.Load(); n != 5 {
		t.Errorf("%d database lookups, want one per miss (5)", n)
	}
}
