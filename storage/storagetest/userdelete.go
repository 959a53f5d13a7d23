package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/latchkey/latchkey/storage"
)

// deleteFixture stores alice (keys with a lineage, grants, an owned
// client bob uses, a mailed link, sessions) and bob, who must survive.
func deleteFixture(t *testing.T, ctx context.Context, s storage.Store) {
	t.Helper()
	must(t, s.CreateUser(ctx, newUser("alice")), "CreateUser alice")
	must(t, s.CreateUser(ctx, newUser("bob")), "CreateUser bob")
	must(t, s.CreateClient(ctx, newClient("c-own", "alice")), "CreateClient c-own")
	must(t, s.CreateClient(ctx, newClient("c-other", "carol")), "CreateClient c-other")
	must(t, s.CreateAPIKey(ctx, newKey("k1", "alice", "main", 1)), "key k1")
	must(t, s.CreateAPIKey(ctx, lineageKey("k2", "alice", 2, "k1", "", "")), "key k2 (child of k1)")
	old := newKey("k3", "alice", "old", 3)
	now := future()
	old.RevokedAt = &now
	must(t, s.CreateAPIKey(ctx, old), "key k3 (revoked)")
	must(t, s.CreateAPIKey(ctx, lineageKey("kb", "bob", 4, "", "", "c-own")), "bob's key made by c-own")
	must(t, s.CreateAPIKey(ctx, newKey("kb2", "bob", "mine", 5)), "bob's own key")
	must(t, s.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k1", UserID: "alice", Type: "created", IP: "192.0.2.7", Detail: "laptop", At: now}), "key event")
	createRequests(t, ctx, s,
		newRequest(storage.KindAccess, "tok-k1", "k1", "c-other", "alice", future()),        // exchanged from k1
		newRequest(storage.KindAccess, "at-alice", "g-alice", "c-other", "alice", future()), // a grant she gave
		newRequest(storage.KindRefresh, "rt-alice", "g-alice", "c-other", "alice", future()),
		newRequest(storage.KindAccess, "at-bob-own", "g-bob1", "c-own", "bob", future()), // bob's token for her app
		newRequest(storage.KindAccess, "at-bob", "g-bob2", "c-other", "bob", future()),
	)
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c-other", Scopes: []string{"openid"}}), "consent alice")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "bob", ClientID: "c-own", Scopes: []string{"openid"}}), "consent bob c-own")
	must(t, s.SaveConsent(ctx, &storage.Consent{UserID: "bob", ClientID: "c-other", Scopes: []string{"openid"}}), "consent bob c-other")
	must(t, s.CreateEmailToken(ctx, newEmailToken("d-alice", storage.PurposeVerify, "alice", future())), "email token")
	must(t, s.CreateWebSession(ctx, &storage.WebSession{SID: "s-alice", UserID: "alice", ExpiresAt: future()}), "session alice")
	must(t, s.CreateWebSession(ctx, &storage.WebSession{SID: "s-bob", UserID: "bob", ExpiresAt: future()}), "session bob")
}

func testUserDelete(t *testing.T, ctx context.Context, s storage.Store) {
	deleteFixture(t, ctx, s)
	// Her second factors (migration 0007) go with her too.
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("sealed")}), "PutTOTP")
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", []storage.RecoveryCode{{Digest: "d1", PepperVersion: 1}}), "ReplaceRecoveryCodes")
	must(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "pk-alice", UserID: "alice", Name: "laptop", Credential: []byte("{}")}), "CreatePasskey")
	got, err := s.DeleteUser(ctx, "alice")
	must(t, err, "DeleteUser")
	if got.Keys != 3 || !slices.Equal(got.GrantedClients, []string{"c-other"}) || !slices.Equal(got.OwnedClients, []string{"c-own"}) {
		t.Errorf("DeleteUser = %+v, want 3 keys, granted c-other, owned c-own", got)
	}
	_, err = s.GetUser(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "GetUser after delete")
	_, err = s.GetUserByUsername(ctx, "user-alice")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername after delete")
	for _, id := range []string{"k1", "k2", "k3"} {
		_, err := s.GetAPIKey(ctx, id)
		wantErr(t, err, storage.ErrNotFound, "her key "+id)
	}
	wantRevoked(t, ctx, s, "kb", true)   // made by her deleted app
	wantRevoked(t, ctx, s, "kb2", false) // bob's own
	for _, sig := range []string{"tok-k1", "at-alice", "at-bob-own"} {
		wantState(t, ctx, s, storage.KindAccess, sig, "missing")
	}
	wantState(t, ctx, s, storage.KindRefresh, "rt-alice", "missing")
	wantState(t, ctx, s, storage.KindAccess, "at-bob", "active")
	_, err = s.GetClient(ctx, "c-own")
	wantErr(t, err, storage.ErrNotFound, "her client")
	_, err = s.GetConsent(ctx, "alice", "c-other")
	wantErr(t, err, storage.ErrNotFound, "her consent")
	_, err = s.GetConsent(ctx, "bob", "c-own")
	wantErr(t, err, storage.ErrNotFound, "bob's consent to her deleted app")
	_, err = s.GetConsent(ctx, "bob", "c-other")
	must(t, err, "bob's other consent")
	_, err = s.GetEmailToken(ctx, storage.PurposeVerify, "d-alice", past())
	wantErr(t, err, storage.ErrNotFound, "her mailed link")
	if ended, err := s.WebSessionEnded(ctx, "s-bob"); err != nil || ended {
		t.Errorf("bob's session ended = %v, %v", ended, err)
	}
	mine, err := s.ListWebSessions(ctx, "alice", past(), past())
	must(t, err, "ListWebSessions alice")
	if len(mine) != 0 {
		t.Errorf("her sessions = %+v, want none", mine)
	}
	evs, err := s.ListKeyEvents(ctx, "k1", 10)
	must(t, err, "ListKeyEvents")
	if len(evs) != 1 || evs[0].Type != "created" || evs[0].UserID != "" || evs[0].IP != "" || evs[0].Detail != "" {
		t.Errorf("audit after delete = %+v, want the event without user, IP or detail", evs)
	}
	_, err = s.GetTOTP(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "her TOTP factor")
	if codes, err := s.RecoveryCodes(ctx, "alice"); err != nil || len(codes) != 0 {
		t.Errorf("her recovery codes = %v, %v; want none", codes, err)
	}
	_, err = s.GetPasskey(ctx, "pk-alice")
	wantErr(t, err, storage.ErrNotFound, "her passkey")
	if _, err := s.GetUser(ctx, "bob"); err != nil {
		t.Errorf("bob: %v", err)
	}
	_, err = s.DeleteUser(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "DeleteUser twice")
	again := newUser("alice2")
	again.Username = "user-alice"
	must(t, s.CreateUser(ctx, again), "the username is free again")
}

// testUserDeleteRace deletes a user while keys and consents for them are
// written concurrently: each write either lands before the deletion (and
// goes with it) or is refused with ErrNotFound; none survives.
func testUserDeleteRace(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("alice")), "CreateUser")
	must(t, s.CreateClient(ctx, newClient("c1", "carol")), "CreateClient")
	const writers = 8
	errs := runConcurrently(writers+1, func(i int) error {
		if i == writers {
			_, err := s.DeleteUser(ctx, "alice")
			return err
		}
		name := string(rune('a' + i))
		if err := s.CreateAPIKey(ctx, newKey("k"+name, "alice", "h"+name, byte(10+i))); err != nil {
			return err
		}
		return s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c1", Scopes: []string{"openid"}})
	})
	must(t, errs[writers], "DeleteUser")
	for i, err := range errs[:writers] {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("writer %d: %v, want success or ErrNotFound", i, err)
		}
	}
	ks, err := s.ListAPIKeys(ctx, "alice")
	must(t, err, "ListAPIKeys")
	cs, err := s.ListConsents(ctx, "alice")
	must(t, err, "ListConsents")
	if len(ks) != 0 || len(cs) != 0 {
		t.Errorf("after the deletion: %d keys and %d consents of the deleted user survive", len(ks), len(cs))
	}
	wantErr(t, s.CreateAPIKey(ctx, newKey("late", "alice", "late", 99)), storage.ErrNotFound, "a key for the deleted user")
	wantErr(t, s.SaveConsent(ctx, &storage.Consent{UserID: "alice", ClientID: "c1"}), storage.ErrNotFound, "a consent for the deleted user")
	wantErr(t, s.CreateAPIKey(ctx, newKey("ghost", "nobody", "ghost", 98)), storage.ErrNotFound, "a key for an unknown user")
}
