package keys

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// TestExpiresSoon: a working key within ExpiryWarning of its expiry, and
// no other, expires soon.
func TestExpiresSoon(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tc := range []struct {
		name string
		k    storage.APIKey
		want bool
	}{
		{"within", storage.APIKey{ExpiresAt: at(2 * 24 * time.Hour)}, true},
		{"at the edge", storage.APIKey{ExpiresAt: at(ExpiryWarning)}, true},
		{"beyond", storage.APIKey{ExpiresAt: at(ExpiryWarning + time.Second)}, false},
		{"never expires", storage.APIKey{}, false},
		{"expired", storage.APIKey{ExpiresAt: at(-time.Second)}, false},
		{"revoked", storage.APIKey{ExpiresAt: at(time.Hour), RevokedAt: at(-time.Hour)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExpiresSoon(&tc.k, now); got != tc.want {
				t.Errorf("ExpiresSoon = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestExpiryWarningMark: a rotation's new key starts un-warned; a PATCH
// keeping the expiry inside the warning window keeps the mark, one moving
// it beyond clears it (so a later approach mails again).
func TestExpiryWarningMark(t *testing.T) {
	s, db, clk, _ := newService(t, false)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc", Scopes: []string{"keys:read"}, ExpiresIn: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	mark := func() {
		t.Helper()
		k, err := s.Get(ctx, "u1", "svc")
		if err != nil {
			t.Fatal(err)
		}
		at := clk.now()
		if err := db.UpdateAPIKey(ctx, k.ID, func(k *storage.APIKey) error { k.ExpiryWarnedAt = &at; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	warned := func() bool {
		t.Helper()
		k, err := s.Get(ctx, "u1", "svc")
		if err != nil {
			t.Fatal(err)
		}
		return k.ExpiryWarnedAt != nil
	}
	mark()
	fresh, _, err := s.Rotate(ctx, "u1", "svc", owner, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.ExpiryWarnedAt != nil || warned() {
		t.Error("a rotation's new key starts warned")
	}
	mark()
	inside := 5 * 24 * time.Hour
	if _, err := s.Update(ctx, "u1", "svc", owner, Patch{ExpiresIn: &inside}); err != nil {
		t.Fatal(err)
	}
	if !warned() {
		t.Error("an expiry still inside the window cleared the mark")
	}
	alias := "renamed"
	if _, err := s.Update(ctx, "u1", "svc", owner, Patch{Alias: &alias}); err != nil || !warned() {
		t.Errorf("a rename cleared the mark (err %v)", err)
	}
	beyond := 30 * 24 * time.Hour
	if _, err := s.Update(ctx, "u1", "svc", owner, Patch{ExpiresIn: &beyond}); err != nil {
		t.Fatal(err)
	}
	if warned() {
		t.Error("an expiry moved beyond the window kept the mark")
	}
}
