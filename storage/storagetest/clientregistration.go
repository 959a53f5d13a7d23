package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// testClientRegistrationToken: a dynamically registered client keeps the
// digest of its registration access token (RFC 7592 §3) through reads,
// the read cache and an update that replaces it; other clients have none.
func testClientRegistrationToken(t *testing.T, ctx context.Context, s storage.Store) {
	plain := newClient("plain", "u1")
	must(t, s.CreateClient(ctx, plain), "CreateClient(plain)")
	got, err := s.GetClient(ctx, "plain")
	must(t, err, "GetClient(plain)")
	if got.Registered() || got.RegistrationTokenDigest != nil || got.RegistrationTokenVersion != 0 {
		t.Errorf("a client created without one has a registration token: %x v%d", got.RegistrationTokenDigest, got.RegistrationTokenVersion)
	}

	reg := newClient("reg", "")
	reg.RegistrationTokenDigest = []byte{0x00, 0x10, 0xfe, 0xff, 0x7f}
	reg.RegistrationTokenVersion = 3
	must(t, s.CreateClient(ctx, reg), "CreateClient(registered)")
	for i := range 2 { // the second read may come from the read cache
		got, err := s.GetClient(ctx, "reg")
		must(t, err, "GetClient(registered)")
		if !got.Registered() || !slices.Equal(got.RegistrationTokenDigest, reg.RegistrationTokenDigest) || got.RegistrationTokenVersion != 3 {
			t.Fatalf("read %d: registration token = %x v%d, want %x v3", i, got.RegistrationTokenDigest, got.RegistrationTokenVersion, reg.RegistrationTokenDigest)
		}
		got.RegistrationTokenDigest[0] = 0xaa // a caller's change must not reach the cache
	}
	must(t, s.UpdateClient(ctx, "reg", func(c *storage.Client) error {
		c.RegistrationTokenDigest, c.RegistrationTokenVersion = []byte{0x42}, 4
		return nil
	}), "UpdateClient(rotate registration token)")
	got, err = s.GetClient(ctx, "reg")
	must(t, err, "GetClient after rotation")
	if !slices.Equal(got.RegistrationTokenDigest, []byte{0x42}) || got.RegistrationTokenVersion != 4 {
		t.Errorf("after rotation: %x v%d, want 42 v4", got.RegistrationTokenDigest, got.RegistrationTokenVersion)
	}
	if got.OwnerID != "" {
		t.Errorf("registered client owner = %q, want none", got.OwnerID)
	}
}
