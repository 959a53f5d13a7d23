package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// expiringFixture stores verified owners "v1" and "v2", an unverified
// owner "nv", and a key of each kind the claim must tell apart; it
// returns the window [now, until] and the ids of the claimable keys.
func expiringFixture(t *testing.T, ctx context.Context, s storage.Store) (now, until time.Time, want []string) {
	t.Helper()
	haveUsers(t, ctx, s, "v1", "v2", "nv")
	now = time.Now().UTC().Truncate(time.Second)
	until = now.Add(7 * 24 * time.Hour)
	for _, id := range []string{"v1", "v2"} {
		must(t, s.VerifyEmail(ctx, id, id+"@example.test", now.Add(-time.Hour)), "VerifyEmail "+id)
	}
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	keys := []struct {
		id, user         string
		expires          *time.Time
		revoked, replace bool
	}{
		{"soon1", "v1", at(48 * time.Hour), false, false},
		{"soon2", "v2", at(24 * time.Hour), false, false},
		{"edge", "v1", at(7 * 24 * time.Hour), false, false}, // exactly at until: in
		{"far", "v1", at(8 * 24 * time.Hour), false, false},
		{"never", "v1", nil, false, false},
		{"expired", "v1", at(-time.Hour), false, false},
		{"revoked", "v1", at(time.Hour), true, false},
		{"rotated", "v1", at(time.Hour), false, true},
		{"unverified", "nv", at(time.Hour), false, false},
		{"by-key", "v1", at(time.Hour), false, false},   // made by another key
		{"by-grant", "v1", at(time.Hour), false, false}, // made by an app token
	}
	for i, k := range keys {
		rec := newKey(k.id, k.user, k.id, byte(i+1))
		rec.ExpiresAt = k.expires
		if k.revoked {
			rec.RevokedAt = at(-time.Minute)
		}
		if k.replace {
			rec.ReplacedBy = "soon1"
		}
		switch k.id {
		case "by-key":
			rec.ParentKeyID = "soon1"
		case "by-grant":
			rec.ParentGrantID, rec.ParentClientID = "grant-1", "c1"
		}
		must(t, s.CreateAPIKey(ctx, rec), "create "+k.id)
	}
	return now, until, []string{"soon2", "soon1", "edge"}
}

func claimedIDs(ks []storage.ExpiringKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Key.ID
	}
	return out
}

// testExpiringClaimOnce: only working keys expiring within the window,
// whose owner's address is verified, are claimed — soonest first, each
// once, with the owner to mail; a released key is claimed again.
func testExpiringClaimOnce(t *testing.T, ctx context.Context, s storage.Store) {
	now, until, want := expiringFixture(t, ctx, s)
	got, err := s.ClaimExpiringAPIKeys(ctx, now, until, 2)
	must(t, err, "claim (limit 2)")
	wantStrings(t, "first batch", claimedIDs(got), want[:2])
	if got[0].Email != "v2@example.test" || got[0].Username != "user-v2" || got[0].Key.Handle != "soon2" ||
		got[0].Key.ExpiryWarnedAt == nil || !sameTime(*got[0].Key.ExpiryWarnedAt, now) {
		t.Errorf("claimed %+v", got[0])
	}
	got, err = s.ClaimExpiringAPIKeys(ctx, now, until, 2)
	must(t, err, "claim again")
	wantStrings(t, "second batch", claimedIDs(got), want[2:])
	got, err = s.ClaimExpiringAPIKeys(ctx, now, until, 10)
	must(t, err, "claim once more")
	wantStrings(t, "third batch", claimedIDs(got), nil)
	k, err := s.GetAPIKey(ctx, "soon1")
	must(t, err, "GetAPIKey")
	if k.ExpiryWarnedAt == nil || !sameTime(*k.ExpiryWarnedAt, now) {
		t.Errorf("stored ExpiryWarnedAt = %v, want %v", k.ExpiryWarnedAt, now)
	}
	for _, id := range []string{"far", "never", "expired", "revoked", "rotated", "unverified", "by-key", "by-grant"} {
		k, err := s.GetAPIKey(ctx, id)
		must(t, err, "GetAPIKey "+id)
		if k.ExpiryWarnedAt != nil {
			t.Errorf("%s was marked warned", id)
		}
	}
	must(t, s.ReleaseExpiryWarning(ctx, "soon1"), "release")
	got, err = s.ClaimExpiringAPIKeys(ctx, now, until, 10)
	must(t, err, "claim after release")
	wantStrings(t, "after release", claimedIDs(got), []string{"soon1"})
	// Clearing the mark through an update (an expiry lengthened and
	// shortened again) makes the key claimable again.
	must(t, s.UpdateAPIKey(ctx, "soon2", func(k *storage.APIKey) error { k.ExpiryWarnedAt = nil; return nil }), "clear")
	got, err = s.ClaimExpiringAPIKeys(ctx, now, until, 10)
	must(t, err, "claim after clear")
	wantStrings(t, "after clear", claimedIDs(got), []string{"soon2"})
}

// testExpiringConcurrentClaim: callers claiming at once (instances of one
// deployment) never both get a key, and together get every key.
func testExpiringConcurrentClaim(t *testing.T, ctx context.Context, s storage.Store) {
	now, until, want := expiringFixture(t, ctx, s)
	// Enough keys that the callers' selects overlap their claims.
	for i := range 40 {
		id := fmt.Sprintf("many%02d", i)
		k := newKey(id, "v2", id, byte(100+i))
		exp := now.Add(time.Duration(i+1) * time.Hour)
		k.ExpiresAt = &exp
		must(t, s.CreateAPIKey(ctx, k), "create "+id)
		want = append(want, id)
	}
	results := make([][]string, 8)
	errs := runConcurrently(8, func(i int) error {
		got, err := s.ClaimExpiringAPIKeys(ctx, now, until, 100)
		results[i] = claimedIDs(got)
		return err
	})
	var all []string
	for i, err := range errs {
		must(t, err, "racing claim")
		all = append(all, results[i]...)
	}
	slices.Sort(all)
	slices.Sort(want)
	wantStrings(t, "claimed by all callers together", all, want)
}
