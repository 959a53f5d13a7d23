package storagetest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// wantPrevious checks the previous secret of the stored client id.
func wantPrevious(t *testing.T, ctx context.Context, s storage.Store, what, id string, digest []byte, version int, until *time.Time) {
	t.Helper()
	got, err := s.GetClient(ctx, id)
	must(t, err, what+": GetClient")
	if !slices.Equal(got.PreviousSecretDigest, digest) || got.PreviousSecretVersion != version {
		t.Errorf("%s: previous secret %x (v%d), want %x (v%d)", what, got.PreviousSecretDigest, got.PreviousSecretVersion, digest, version)
	}
	switch {
	case until == nil && got.PreviousSecretExpiresAt != nil:
		t.Errorf("%s: previous secret expires %v, want none", what, got.PreviousSecretExpiresAt)
	case until != nil && got.PreviousSecretExpiresAt == nil:
		t.Errorf("%s: previous secret has no expiry, want %v", what, until)
	case until != nil:
		wantTime(t, what+": PreviousSecretExpiresAt", *got.PreviousSecretExpiresAt, *until)
	}
}

// testClientSecretRotation: the previous secret round-trips through
// UpdateClient (digest, version, expiry), a second rotation replaces it
// (two secrets at most), ending the grace clears it, and every step is
// visible to the next GetClient (the read cache is invalidated).
func testClientSecretRotation(t *testing.T, ctx context.Context, s storage.Store) {
	c := newClient("c1", "u1")
	must(t, s.CreateClient(ctx, c), "CreateClient")
	wantPrevious(t, ctx, s, "new client", "c1", nil, 0, nil)
	_, err := s.GetClient(ctx, "c1") // fill the read cache, if any
	must(t, err, "GetClient")

	now := time.Now().UTC().Truncate(time.Microsecond)
	rotate := func(digest []byte, version int, grace time.Duration) {
		t.Helper()
		must(t, s.UpdateClient(ctx, "c1", func(cl *storage.Client) error {
			cl.RotateSecret(digest, version, now, grace)
			return nil
		}), "UpdateClient(rotate)")
	}
	rotate([]byte{1, 1}, 3, time.Hour)
	until := now.Add(time.Hour)
	wantPrevious(t, ctx, s, "first rotation", "c1", c.SecretDigest, c.SecretVersion, &until)
	got, _ := s.GetClient(ctx, "c1")
	if !slices.Equal(got.SecretDigest, []byte{1, 1}) || got.SecretVersion != 3 {
		t.Errorf("first rotation: secret %x (v%d), want 0101 (v3)", got.SecretDigest, got.SecretVersion)
	}

	// A second rotation: the first new secret becomes the previous one,
	// the original is gone.
	rotate([]byte{2, 2}, 4, 24*time.Hour)
	until = now.Add(24 * time.Hour)
	wantPrevious(t, ctx, s, "second rotation", "c1", []byte{1, 1}, 3, &until)

	must(t, s.UpdateClient(ctx, "c1", func(cl *storage.Client) error { cl.EndSecretGrace(); return nil }), "UpdateClient(end grace)")
	wantPrevious(t, ctx, s, "grace ended", "c1", nil, 0, nil)

	// No grace: the replaced secret is not kept at all.
	rotate([]byte{3, 3}, 4, time.Hour)
	rotate([]byte{4, 4}, 4, 0)
	wantPrevious(t, ctx, s, "rotation without grace", "c1", nil, 0, nil)
}

// testPurgePreviousSecrets: PurgeExpired clears previous client secrets
// whose grace ended before the cutoff and leaves the rest of the client,
// and the secrets still in grace, alone.
func testPurgePreviousSecrets(t *testing.T, ctx context.Context, s storage.Store) {
	setPrevious := func(id string, until time.Time) {
		t.Helper()
		must(t, s.CreateClient(ctx, newClient(id, "u1")), "CreateClient("+id+")")
		must(t, s.UpdateClient(ctx, id, func(cl *storage.Client) error {
			cl.PreviousSecretDigest, cl.PreviousSecretVersion, cl.PreviousSecretExpiresAt = []byte{7, 7}, 2, &until
			return nil
		}), "UpdateClient("+id+")")
	}
	old, later := past(), future()
	setPrevious("ended-1", old)
	setPrevious("ended-2", old.Add(-time.Hour))
	setPrevious("in-grace", later)
	must(t, s.CreateClient(ctx, newClient("plain", "u1")), "CreateClient(plain)")
	before, err := s.GetClient(ctx, "ended-1")
	must(t, err, "GetClient(ended-1)")

	p, err := s.PurgeExpired(ctx, time.Now(), 1)
	must(t, err, "PurgeExpired(limit 1)")
	if want := (storage.Purged{"client_previous_secrets": 1}); !maps.Equal(p, want) {
		t.Errorf("PurgeExpired(limit 1) = %v, want %v", p, want)
	}
	p, err = s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "PurgeExpired")
	if want := (storage.Purged{"client_previous_secrets": 1}); !maps.Equal(p, want) {
		t.Errorf("second PurgeExpired = %v, want %v", p, want)
	}
	for _, id := range []string{"ended-1", "ended-2"} {
		wantPrevious(t, ctx, s, "purged "+id, id, nil, 0, nil)
	}
	wantPrevious(t, ctx, s, "in grace", "in-grace", []byte{7, 7}, 2, &later)
	after, err := s.GetClient(ctx, "ended-1")
	must(t, err, "GetClient(ended-1) after purge")
	want := *before
	want.PreviousSecretDigest, want.PreviousSecretVersion, want.PreviousSecretExpiresAt = nil, 0, nil
	wantClient(t, "ended-1 after purge", after, &want)
	wantTime(t, "ended-1 UpdatedAt after purge", after.UpdatedAt, before.UpdatedAt)
	if p, err := s.PurgeExpired(ctx, time.Now(), 100); err != nil || p.Total() != 0 {
		t.Errorf("third PurgeExpired = %v, %v; want nothing", p, err)
	}
}
