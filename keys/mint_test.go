package keys

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// keyAuthority is the authority of an API key (or a token of it), as the
// API builds it.
func keyAuthority(k *storage.APIKey) Authority {
	return Authority{Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, CanRead: true, KeyID: k.ID}
}

// TestChildKeyTierNoHigherThanCredential (black-box review of issue 10,
// low): a free-tier key with keys:write created an enterprise child. A
// credential other than the owner signed in creates and rotates into no
// tier higher than its own — its key's tier, or for an OAuth token its
// client's (Authority.Tier, else the default tier) — with tiers ranked as
// config lists them (free < pro < enterprise); asking for no tier gives
// the default tier, or the credential's own when that is lower. The owner
// may pick any tier.
func TestChildKeyTierNoHigherThanCredential(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	mk := func(handle, tier string) *storage.APIKey {
		t.Helper()
		k, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: handle, Tier: tier, Scopes: []string{"keys:write", "keys:read"}})
		if err != nil || k.Tier != tier {
			t.Fatalf("owner creating a %s key: %+v %v", tier, k, err)
		}
		return k
	}
	free, pro := keyAuthority(mk("free-writer", "free")), keyAuthority(mk("pro-writer", "pro"))
	mk("enterprise-key", "enterprise")
	grant := func(tier string) Authority {
		return Authority{Scopes: allScopes, CanRead: true, GrantID: "g", ClientID: "app", Tier: tier}
	}

	n := 0
	for _, tc := range []struct {
		name      string
		a         Authority
		requested string
		want      string // "" = refused with ErrTierExceeded
	}{
		{"free key asks for enterprise", free, "enterprise", ""},
		{"free key asks for pro", free, "pro", ""},
		{"free key asks for free", free, "free", "free"},
		{"free key asks for none", free, "", "free"},
		{"pro key asks for enterprise", pro, "enterprise", ""},
		{"pro key asks for pro", pro, "pro", "pro"},
		{"pro key asks for free", pro, "free", "free"},
		{"token of a pro client asks for enterprise", grant("pro"), "enterprise", ""},
		{"token of a pro client asks for pro", grant("pro"), "pro", "pro"},
		{"token of a client without tier asks for pro", grant(""), "pro", ""},
		{"token of a client without tier asks for free", grant(""), "free", "free"},
		{"owner asks for enterprise", owner, "enterprise", "enterprise"},
	} {
		n++
		k, _, err := s.Create(ctx, "u1", tc.a, CreateRequest{Handle: fmt.Sprintf("child%d", n), Tier: tc.requested, Scopes: []string{"keys:read"}})
		switch {
		case tc.want == "" && !errors.Is(err, ErrTierExceeded):
			t.Errorf("%s: %+v %v, want ErrTierExceeded", tc.name, k, err)
		case tc.want != "" && (err != nil || k.Tier != tc.want):
			t.Errorf("%s: %+v %v, want tier %s", tc.name, k, err, tc.want)
		}
	}

	// Rotating is minting: the free key cannot rotate the enterprise key
	// (within its scopes) into a new enterprise key; the pro key neither;
	// the owner can.
	for _, a := range []Authority{free, pro, grant("pro")} {
		if k, _, err := s.Rotate(ctx, "u1", "enterprise-key", a, 0, ""); !errors.Is(err, ErrTierExceeded) {
			t.Errorf("rotating the enterprise key by %+v: %+v %v, want ErrTierExceeded", a, k, err)
		}
	}
	if k, _, err := s.Rotate(ctx, "u1", "enterprise-key", owner, 0, ""); err != nil || k.Tier != "enterprise" {
		t.Fatalf("owner rotating the enterprise key: %+v %v", k, err)
	}
	// A key rotates itself into its own tier.
	if k, _, err := s.Rotate(ctx, "u1", "pro-writer", pro, 0, ""); err != nil || k.Tier != "pro" {
		t.Fatalf("pro key rotating itself: %+v %v", k, err)
	}

	// With a default tier above the credential's, asking for none gives
	// the credential's own.
	s.cfg.DefaultTier = "pro"
	if k, _, err := s.Create(ctx, "u1", free, CreateRequest{Handle: "default-above", Scopes: []string{"keys:read"}}); err != nil || k.Tier != "free" {
		t.Fatalf("free key asking for no tier with default pro: %+v %v, want free", k, err)
	}
}

// TestCreateRacingParentRevokeLeavesNoLiveChild (black-box review of
// issue 10, suspected race): a create by a key (or a token of it) racing
// the revocation of that key never leaves a live child. The parent is
// re-read, locked, in the create's transaction: a create that commits
// first is revoked with its parent, one that comes after is refused with
// ErrCredentialEnded. Likewise a rotation by the key of another key, and
// a key's rotation of itself racing the revocation of its parent.
func TestCreateRacingParentRevokeLeavesNoLiveChild(t *testing.T) {
	s, _, _, _ := newService(t, false)
	createsRacingRevoke(t, s)
}

// TestCreateRacingParentRevokeLeavesNoLiveChildPostgres is
// TestCreateRacingParentRevokeLeavesNoLiveChild on PostgreSQL, where the
// creates and the revocation run in parallel transactions.
func TestCreateRacingParentRevokeLeavesNoLiveChildPostgres(t *testing.T) {
	createsRacingRevoke(t, postgresService(t))
}

func createsRacingRevoke(t *testing.T, s *Service) {
	t.Helper()
	ctx := t.Context()
	const creates = 50
	for round := range 3 {
		parent, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: fmt.Sprintf("parent%d", round), Scopes: []string{"keys:write", "keys:read"}})
		if err != nil {
			t.Fatal(err)
		}
		a := keyAuthority(parent)
		// Keys the parent will rotate, and a child of it that rotates
		// itself (the new key inherits the parent as its own).
		for i := range 5 {
			if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: fmt.Sprintf("other%d-%d", round, i), Scopes: []string{"keys:read"}}); err != nil {
				t.Fatal(err)
			}
		}
		child, _, err := s.Create(ctx, "u1", a, CreateRequest{Handle: fmt.Sprintf("self%d", round), Scopes: []string{"keys:read"}})
		if err != nil {
			t.Fatal(err)
		}

		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, creates+10)
		for i := range creates {
			wg.Go(func() {
				<-start
				_, _, err := s.Create(ctx, "u1", a, CreateRequest{Handle: fmt.Sprintf("c%d-%d", round, i), Scopes: []string{"keys:read"}})
				if err != nil && !errors.Is(err, ErrCredentialEnded) {
					errs <- fmt.Errorf("create %d: %w", i, err)
				}
			})
			if i%10 == 0 {
				wg.Go(func() {
					<-start
					_, _, err := s.Rotate(ctx, "u1", fmt.Sprintf("other%d-%d", round, i/10), a, time.Hour, "")
					if err != nil && !errors.Is(err, ErrCredentialEnded) {
						errs <- fmt.Errorf("rotate other %d: %w", i/10, err)
					}
				})
			}
		}
		wg.Go(func() {
			<-start
			_, _, err := s.Rotate(ctx, "u1", child.Handle, keyAuthority(child), time.Hour, "")
			if err != nil && !errors.Is(err, ErrRevoked) && !errors.Is(err, ErrCredentialEnded) {
				errs <- fmt.Errorf("self-rotation: %w", err)
			}
		})
		wg.Go(func() {
			<-start
			time.Sleep(time.Millisecond)
			if _, err := s.Revoke(ctx, "u1", parent.Handle, owner, ""); err != nil {
				errs <- fmt.Errorf("revoke: %w", err)
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		all, err := s.List(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range all {
			if k.ParentKeyID == parent.ID && k.RevokedAt == nil {
				t.Errorf("round %d: key %s (rotated from %q) outlives its revoked parent", round, k.Handle, k.RotatedFrom)
			}
		}
	}
}
