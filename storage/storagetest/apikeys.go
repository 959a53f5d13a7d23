package storagetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newKey(id, user, handle string, digest byte) *storage.APIKey {
	return &storage.APIKey{
		ID: id, UserID: user, Handle: handle, Display: "lk_live_abcd", Environment: "live", Tier: "free",
		Scopes: []string{"keys:read"}, Digest: bytes.Repeat([]byte{digest}, 32), PepperVersion: 1,
	}
}

func testAPIKeyCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	exp := future()
	k := newKey("k1", "u1", "ci", 1)
	k.ExpiresAt = &exp
	must(t, s.CreateAPIKey(ctx, k), "create")
	byDigest, err := s.GetAPIKeyByDigest(ctx, bytes.Repeat([]byte{1}, 32))
	must(t, err, "get by digest")
	byHandle, err := s.GetAPIKeyByHandle(ctx, "u1", "ci")
	must(t, err, "get by handle")
	byID, err := s.GetAPIKey(ctx, "k1")
	must(t, err, "get by id")
	for _, got := range []*storage.APIKey{byDigest, byHandle, byID} {
		if got.ID != "k1" || got.Handle != "ci" || got.ExpiresAt == nil || !sameTime(*got.ExpiresAt, exp) {
			t.Fatalf("got %+v", got)
		}
		wantStrings(t, "scopes", got.Scopes, []string{"keys:read"})
	}
	_, err = s.GetAPIKeyByDigest(ctx, bytes.Repeat([]byte{9}, 32))
	wantErr(t, err, storage.ErrNotFound, "unknown digest")
	_, err = s.GetAPIKeyByHandle(ctx, "u2", "ci")
	wantErr(t, err, storage.ErrNotFound, "other user's handle")
	_, err = s.GetAPIKey(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound, "unknown id")
}

func testAPIKeyUniqueness(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "ci", 1)), "create")
	wantErr(t, s.CreateAPIKey(ctx, newKey("k2", "u1", "ci", 2)), storage.ErrConflict, "same user and handle")
	wantErr(t, s.CreateAPIKey(ctx, newKey("k3", "u2", "other", 1)), storage.ErrConflict, "same digest")
	must(t, s.CreateAPIKey(ctx, newKey("k4", "u2", "ci", 4)), "same handle, other user")
}

func testAPIKeyUpdateAndList(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "a", 1)), "create a")
	k2 := newKey("k2", "u1", "b", 2)
	k2.CreatedAt = time.Now().UTC().Add(time.Minute)
	must(t, s.CreateAPIKey(ctx, k2), "create b")
	must(t, s.CreateAPIKey(ctx, newKey("k3", "u2", "c", 3)), "create c")
	ks, err := s.ListAPIKeys(ctx, "u1")
	must(t, err, "list")
	if len(ks) != 2 || ks[0].ID != "k2" || ks[1].ID != "k1" {
		t.Fatalf("list = %+v, want k2, k1 (newest first)", ks)
	}
	now := time.Now().UTC()
	must(t, s.UpdateAPIKey(ctx, "k1", func(k *storage.APIKey) error { k.RevokedAt = &now; k.Alias = "x"; return nil }), "update")
	got, _ := s.GetAPIKey(ctx, "k1")
	if got.RevokedAt == nil || got.Alias != "x" {
		t.Fatalf("update lost: %+v", got)
	}
	err = s.UpdateAPIKey(ctx, "k1", func(k *storage.APIKey) error { k.Alias = "y"; return errTest })
	if !errors.Is(err, errTest) {
		t.Fatalf("fn error = %v", err)
	}
	if got, _ := s.GetAPIKey(ctx, "k1"); got.Alias != "x" {
		t.Fatal("a failed update changed the key")
	}
	wantErr(t, s.UpdateAPIKey(ctx, "nope", func(*storage.APIKey) error { return nil }), storage.ErrNotFound, "update missing")
}

func testAPIKeyUsage(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "a", 1)), "create")
	t1 := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	t2 := t1.Add(30 * time.Second)
	must(t, s.RecordKeyUsage(ctx, []storage.KeyUsage{{KeyID: "k1", LastUsed: t2, Count: 5}}), "usage 1")
	must(t, s.RecordKeyUsage(ctx, []storage.KeyUsage{{KeyID: "k1", LastUsed: t1, Count: 2}, {KeyID: "gone", LastUsed: t1, Count: 1}}), "usage 2")
	got, _ := s.GetAPIKey(ctx, "k1")
	if got.UsageCount != 7 || got.LastUsedAt == nil || !sameTime(*got.LastUsedAt, t2) {
		t.Fatalf("usage %d at %v, want 7 at %v (an older batch never moves last-used back)", got.UsageCount, got.LastUsedAt, t2)
	}
	must(t, s.RecordKeyUsage(ctx, nil), "empty batch")
}

func testKeyEvents(t *testing.T, ctx context.Context, s storage.Store) {
	base := time.Now().UTC()
	for i, typ := range []string{"created", "exchanged", "revoked"} {
		must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: typ, At: base.Add(time.Duration(i) * time.Second)}), typ)
	}
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k2", UserID: "u1", Type: "created", At: base}), "other key")
	es, err := s.ListKeyEvents(ctx, "k1", 2)
	must(t, err, "list")
	if len(es) != 2 || es[0].Type != "revoked" || es[1].Type != "exchanged" {
		t.Fatalf("events = %+v", es)
	}
}

// testAPIKeyDelete: only revoked keys of the user are deleted; the audit
// log stays and the handle is free again.
func testAPIKeyDelete(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.CreateAPIKey(ctx, newKey("k1", "u1", "ci", 1)), "create k1")
	must(t, s.CreateAPIKey(ctx, newKey("k2", "u1", "ci~old", 2)), "create k2")
	must(t, s.CreateAPIKey(ctx, newKey("k3", "u1", "live", 3)), "create k3")
	must(t, s.CreateAPIKey(ctx, newKey("k4", "u2", "theirs", 4)), "create k4")
	for _, id := range []string{"k1", "k2", "k4"} {
		must(t, s.UpdateAPIKey(ctx, id, func(k *storage.APIKey) error {
			now := time.Now().UTC()
			k.RevokedAt = &now
			return nil
		}), "revoke "+id)
	}
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "revoked", At: time.Now().UTC()}), "event")
	n, err := s.DeleteAPIKeys(ctx, "u1", []string{"k1", "k2", "k3", "k4", "nope"})
	must(t, err, "delete")
	if n != 2 {
		t.Fatalf("deleted %d, want 2 (k3 is not revoked, k4 is another user's)", n)
	}
	for id, gone := range map[string]bool{"k1": true, "k2": true, "k3": false, "k4": false} {
		if _, err := s.GetAPIKey(ctx, id); gone != errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: get after delete: %v, gone %v", id, err, gone)
		}
	}
	if es, err := s.ListKeyEvents(ctx, "k1", 10); err != nil || len(es) != 1 {
		t.Fatalf("the audit log of a deleted key: %v %v", es, err)
	}
	must(t, s.CreateAPIKey(ctx, newKey("k5", "u1", "ci", 5)), "the deleted key's handle again")
	if n, err := s.DeleteAPIKeys(ctx, "u1", nil); n != 0 || err != nil {
		t.Fatalf("delete nothing: %d %v", n, err)
	}
}

func testPurgeKeyEvents(t *testing.T, ctx context.Context, s storage.Store) {
	now := time.Now().UTC()
	for i := range 5 {
		must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "exchanged", At: now.Add(-time.Duration(100+i) * time.Hour)}), "old event")
	}
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "u1", Type: "created", At: now.Add(-time.Hour)}), "recent event")
	for _, want := range []int64{2, 2, 1, 0} {
		n, err := s.PurgeKeyEvents(ctx, now.Add(-24*time.Hour), 2)
		must(t, err, "PurgeKeyEvents")
		if n != want {
			t.Fatalf("PurgeKeyEvents(limit 2) = %d, want %d", n, want)
		}
	}
	es, err := s.ListKeyEvents(ctx, "k1", 10)
	must(t, err, "list")
	if len(es) != 1 || es[0].Type != "created" {
		t.Fatalf("after the purge: %+v, want only the recent event", es)
	}
}

// lineageKey is newKey with a lineage.
func lineageKey(id, user string, digest byte, parentKey, grant, client string) *storage.APIKey {
	k := newKey(id, user, id, digest)
	k.ParentKeyID, k.ParentGrantID, k.ParentClientID = parentKey, grant, client
	return k
}

func revokedIDs(ks []storage.APIKey) []string {
	ids := make([]string, 0, len(ks))
	for _, k := range ks {
		if k.RevokedAt == nil {
			ids = append(ids, k.ID+"(not revoked)")
			continue
		}
		ids = append(ids, k.ID)
	}
	slices.Sort(ids)
	return ids
}

func wantRevoked(t *testing.T, ctx context.Context, s storage.Store, id string, revoked bool) {
	t.Helper()
	k, err := s.GetAPIKey(ctx, id)
	must(t, err, "GetAPIKey("+id+")")
	if (k.RevokedAt != nil) != revoked {
		t.Errorf("key %s revoked = %v, want %v", id, k.RevokedAt != nil, revoked)
	}
}

// testAPIKeyLineage: ListAPIKeyChildren and RevokeAPIKeysByParent walk the
// recorded lineage, revoke descendants transitively, delete the tokens
// exchanged from them and announce each key; RevokeGrants and DeleteClient
// revoke the keys their grants created.
func testAPIKeyLineage(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	var heard []string
	var mu sync.Mutex
	if o, ok := s.(interface {
		OnChange(func(storage.Invalidation))
	}); ok {
		o.OnChange(func(inv storage.Invalidation) {
			mu.Lock()
			heard = append(heard, string(inv.Topic)+":"+inv.ID)
			mu.Unlock()
		})
	}
	for _, k := range []*storage.APIKey{
		lineageKey("root", "alice", 1, "", "", ""),
		lineageKey("child", "alice", 2, "root", "", ""),
		lineageKey("grandchild", "alice", 3, "child", "", ""),
		lineageKey("other-root", "alice", 4, "", "", ""),
		lineageKey("from-grant", "alice", 5, "", "g1", "c1"),
		lineageKey("from-grant-child", "alice", 6, "from-grant", "", ""),
		lineageKey("bob-from-c1", "bob", 7, "", "g2", "c1"),
		lineageKey("alice-from-c1-g3", "alice", 8, "", "g3", "c1"),
		lineageKey("from-c2", "alice", 9, "", "g4", "c2"),
		lineageKey("revoked-child", "alice", 10, "root", "", ""),
	} {
		must(t, s.CreateAPIKey(ctx, k), "create "+k.ID)
	}
	now := time.Now().UTC()
	must(t, s.UpdateAPIKey(ctx, "revoked-child", func(k *storage.APIKey) error { k.RevokedAt = &now; return nil }), "revoke revoked-child")
	exp := future()
	createRequests(t, ctx, s,
		newRequest(storage.KindAccess, "at-root", "root", "", "alice", exp),
		newRequest(storage.KindAccess, "at-child", "child", "", "alice", exp),
		newRequest(storage.KindAccess, "at-grandchild", "grandchild", "", "alice", exp),
	)

	children, err := s.ListAPIKeyChildren(ctx, "root")
	must(t, err, "ListAPIKeyChildren")
	if len(children) != 1 || children[0].ID != "child" {
		t.Fatalf("children of root = %+v, want only child (revoked keys are left out)", children)
	}

	got, err := s.RevokeAPIKeysByParent(ctx, storage.KeyParent{KeyID: "root"})
	must(t, err, "RevokeAPIKeysByParent(root)")
	wantStrings(t, "revoked below root", revokedIDs(got), []string{"child", "grandchild"})
	wantRevoked(t, ctx, s, "root", false)
	wantRevoked(t, ctx, s, "other-root", false)
	wantState(t, ctx, s, storage.KindAccess, "at-root", "active")
	wantState(t, ctx, s, storage.KindAccess, "at-child", "missing")
	wantState(t, ctx, s, storage.KindAccess, "at-grandchild", "missing")
	got, err = s.RevokeAPIKeysByParent(ctx, storage.KeyParent{KeyID: "root"})
	must(t, err, "second RevokeAPIKeysByParent(root)")
	if len(got) != 0 {
		t.Fatalf("a second revocation revoked %v again", revokedIDs(got))
	}

	got, err = s.RevokeAPIKeysByParent(ctx, storage.KeyParent{GrantID: "g1"})
	must(t, err, "RevokeAPIKeysByParent(grant g1)")
	wantStrings(t, "revoked with grant g1", revokedIDs(got), []string{"from-grant", "from-grant-child"})

	got, err = s.RevokeAPIKeysByParent(ctx, storage.KeyParent{UserID: "alice"})
	must(t, err, "RevokeAPIKeysByParent(no parent)")
	if len(got) != 0 {
		t.Fatalf("a selector without a parent revoked %v", revokedIDs(got))
	}

	must(t, s.RevokeGrants(ctx, "alice", "c1"), "RevokeGrants(alice, c1)")
	wantRevoked(t, ctx, s, "alice-from-c1-g3", true)
	wantRevoked(t, ctx, s, "bob-from-c1", false)
	wantRevoked(t, ctx, s, "from-c2", false)

	must(t, s.CreateClient(ctx, newClient("c2", "alice")), "CreateClient(c2)")
	must(t, s.DeleteClient(ctx, "c2"), "DeleteClient(c2)")
	wantRevoked(t, ctx, s, "from-c2", true)
	wantRevoked(t, ctx, s, "bob-from-c1", false)

	mu.Lock()
	defer mu.Unlock()
	if heard != nil { // the backend offers OnChange
		child, _ := s.GetAPIKey(ctx, "child")
		if !slices.Contains(heard, "key:"+hex.EncodeToString(child.Digest)) {
			t.Errorf("the cascade did not announce the revoked key child: heard %q", heard)
		}
	}
}
