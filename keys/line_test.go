package keys

import (
	"errors"
	"testing"
	"time"
)

// TestRevokeRevokesTheLine: revoking a key rotated with a grace period
// also stops the key it replaced, which kept working until then (before,
// the old key outlived the revocation of its successor).
func TestRevokeRevokesTheLine(t *testing.T) {
	s, _, clk, revoked := newService(t, false)
	ctx := t.Context()
	old, oldPlain, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc", Scopes: []string{"users:read"}})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := s.Rotate(ctx, "u1", "svc", owner, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	preds, err := s.Predecessors(ctx, fresh)
	if err != nil || len(preds) != 1 || preds[0].ID != old.ID {
		t.Fatalf("predecessors %v %v", preds, err)
	}
	until, ok := Rotating(preds, clk.now())
	if !ok || !until.Equal(clk.now().Add(time.Hour)) {
		t.Fatalf("rotating until %v %v, want an hour from now", until, ok)
	}
	if _, err := s.Verify(ctx, oldPlain, ""); err != nil {
		t.Fatalf("old key in its grace: %v", err)
	}
	if _, err := s.Revoke(ctx, "u1", "svc", owner, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, oldPlain, ""); !errors.Is(err, ErrRevoked) {
		t.Fatalf("old key after its successor was revoked: %v, want ErrRevoked", err)
	}
	if len(*revoked) < 2 {
		t.Fatalf("tokens revoked for %v, want both keys", *revoked)
	}
	evs, _ := s.Events(ctx, old.ID)
	if len(evs) == 0 || evs[0].Type != "revoked" {
		t.Fatalf("the old key's audit log: %+v", evs)
	}
	preds, _ = s.Predecessors(ctx, fresh)
	if _, ok := Rotating(preds, clk.now()); ok {
		t.Fatal("still rotating after the revocation")
	}
}

// TestDeleteRevokedKey: an active key cannot be deleted; a revoked one
// can, with the rotated-out keys before it; its audit log stays and its
// name is free for a new key.
func TestDeleteRevokedKey(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	old, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := s.Rotate(ctx, "u1", "svc", owner, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "u1", "svc", owner, ""); !errors.Is(err, ErrActive) {
		t.Fatalf("deleting an active key: %v, want ErrActive", err)
	}
	if _, err := s.Revoke(ctx, "u1", "svc", owner, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("the name of a revoked key: %v, want ErrConflict until it is deleted", err)
	}
	if err := s.Delete(ctx, "u1", "svc", owner, ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{fresh.ID, old.ID} {
		if _, err := s.store.GetAPIKey(ctx, id); err == nil {
			t.Fatalf("key %s still stored", id)
		}
		evs, _ := s.Events(ctx, id)
		if len(evs) == 0 || evs[0].Type != "deleted" {
			t.Fatalf("audit log of %s after deletion: %+v", id, evs)
		}
	}
	if ks, _ := s.List(ctx, "u1"); len(ks) != 0 {
		t.Fatalf("list after deletion: %d keys", len(ks))
	}
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc"}); err != nil {
		t.Fatalf("the name of a deleted key: %v", err)
	}
	if err := s.Delete(ctx, "u1", "nope", owner, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

// TestRevokeLineLeavesExpiredKeysExpired: a predecessor whose grace ended
// is not revoked with its successor; it stays expired (as verification
// reports it).
func TestRevokeLineLeavesExpiredKeysExpired(t *testing.T) {
	s, _, clk, _ := newService(t, false)
	ctx := t.Context()
	if _, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "svc"}); err != nil {
		t.Fatal(err)
	}
	_, oldPlain, _ := s.Create(ctx, "u1", owner, CreateRequest{Handle: "other"})
	if _, _, err := s.Rotate(ctx, "u1", "other", owner, 0, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	if _, err := s.Revoke(ctx, "u1", "other", owner, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, oldPlain, ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("a predecessor expired before the revocation: %v, want ErrExpired", err)
	}
}
