package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testConsentSaveGet(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	c := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid", "profile"}}
	must(t, s.SaveConsent(ctx, c), "SaveConsent")
	got, err := s.GetConsent(ctx, "alice", "c1")
	must(t, err, "GetConsent")
	if got.UserID != "alice" || got.ClientID != "c1" {
		t.Errorf("GetConsent = %+v", got)
	}
	wantStrings(t, "GetConsent Scopes", got.Scopes, c.Scopes)
	wantTime(t, "GetConsent CreatedAt", got.CreatedAt, c.CreatedAt)
	wantTime(t, "GetConsent UpdatedAt", got.UpdatedAt, c.UpdatedAt)

	_, err = s.GetConsent(ctx, "alice", "c2")
	wantErr(t, err, storage.ErrNotFound, "GetConsent(other client)")
	_, err = s.GetConsent(ctx, "bob", "c1")
	wantErr(t, err, storage.ErrNotFound, "GetConsent(other user)")
}

func testConsentSaveReplaces(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	first := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}}
	must(t, s.SaveConsent(ctx, first), "first SaveConsent")
	second := &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid", "email", "offline_access"}}
	must(t, s.SaveConsent(ctx, second), "second SaveConsent")
	got, err := s.GetConsent(ctx, "alice", "c1")
	must(t, err, "GetConsent")
	wantStrings(t, "Scopes after replace", got.Scopes, second.Scopes)
	if got.UpdatedAt.Before(first.UpdatedAt.Truncate(time.Microsecond)) {
		t.Errorf("UpdatedAt %v is before the first save's %v", got.UpdatedAt, first.UpdatedAt)
	}
	list, err := s.ListConsents(ctx, "alice")
	must(t, err, "ListConsents")
	if len(list) != 1 {
		t.Fatalf("ListConsents after two saves of one pair = %d rows, want 1", len(list))
	}
	wantStrings(t, "listed Scopes", list[0].Scopes, second.Scopes)
}

func testConsentList(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	// SaveConsent stamps UpdatedAt from the store's clock, which the suite
	// cannot inject; a short pause keeps consecutive saves distinct even on
	// a database that keeps only microseconds.
	save := func(user, client string) {
		t.Helper()
		time.Sleep(2 * time.Millisecond)
		must(t, s.SaveConsent(ctx, &storage.Consent{UserID: user, ClientID: client, Scopes: []string{"openid"}}),
			"SaveConsent("+user+", "+client+")")
	}
	list := func() []string {
		t.Helper()
		cs, err := s.ListConsents(ctx, "alice")
		must(t, err, "ListConsents")
		var ids []string
		for _, c := range cs {
			if c.UserID != "alice" {
				t.Errorf("ListConsents(alice) returned a consent of %q", c.UserID)
			}
			ids = append(ids, c.ClientID)
		}
		return ids
	}
	save("alice", "c1")
	save("bob", "c2")
	save("alice", "c2")
	save("alice", "c3")
	wantStrings(t, "ListConsents newest first", list(), []string{"c3", "c2", "c1"})
	save("alice", "c1") // re-granting makes it the newest
	wantStrings(t, "ListConsents after re-saving c1", list(), []string{"c1", "c3", "c2"})

	none, err := s.ListConsents(ctx, "nobody")
	must(t, err, "ListConsents(nobody)")
	if len(none) != 0 {
		t.Errorf("ListConsents(nobody) = %d, want none", len(none))
	}
}

func testConsentDelete(t *testing.T, ctx context.Context, s storage.Store) {
	haveUsers(t, ctx, s, "u1", "u2", "alice", "bob") // keys and consents need their owner (DeleteUser)
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c2", Scopes: []string{"openid"}}), "SaveConsent")
	must(t, s.DeleteConsent(ctx, "alice", "c1"), "DeleteConsent")
	_, err := s.GetConsent(ctx, "alice", "c1")
	wantErr(t, err, storage.ErrNotFound, "GetConsent after delete")
	_, err = s.GetConsent(ctx, "alice", "c2")
	must(t, err, "GetConsent of the other consent")
	wantErr(t, s.DeleteConsent(ctx, "alice", "c1"), storage.ErrNotFound, "second DeleteConsent")
	wantErr(t, s.DeleteConsent(ctx, "bob", "c2"), storage.ErrNotFound, "DeleteConsent(never given)")
}
