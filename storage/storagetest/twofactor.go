package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func codes(digests ...string) []storage.RecoveryCode {
	out := make([]storage.RecoveryCode, len(digests))
	for i, d := range digests {
		out[i] = storage.RecoveryCode{Digest: d, PepperVersion: 1}
	}
	return out
}

// testTOTPEnrolConfirm: an enrolment replaces an unconfirmed one, is
// confirmed once with its recovery codes, and a confirmed factor is not
// replaced until it is deleted (which drops the codes with it).
func testTOTPEnrolConfirm(t *testing.T, ctx context.Context, s storage.Store) {
	_, err := s.GetTOTP(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "GetTOTP(none)")
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("first")}), "PutTOTP")
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("second")}), "PutTOTP again")
	f, err := s.GetTOTP(ctx, "alice")
	must(t, err, "GetTOTP")
	if string(f.Sealed) != "second" || f.ConfirmedAt != nil || f.LastStep != 0 {
		t.Fatalf("GetTOTP = %+v, want the second unconfirmed enrolment", f)
	}
	must(t, s.ConfirmTOTP(ctx, "alice", 42, codes("d1", "d2")), "ConfirmTOTP")
	wantErr(t, s.ConfirmTOTP(ctx, "alice", 43, nil), storage.ErrNotFound, "ConfirmTOTP twice")
	wantErr(t, s.ConfirmTOTP(ctx, "bob", 43, nil), storage.ErrNotFound, "ConfirmTOTP(no enrolment)")
	f, err = s.GetTOTP(ctx, "alice")
	must(t, err, "GetTOTP")
	if f.ConfirmedAt == nil || f.LastStep != 42 {
		t.Fatalf("after ConfirmTOTP = %+v, want confirmed with LastStep 42", f)
	}
	wantErr(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("x")}), storage.ErrConflict, "PutTOTP over a confirmed factor")
	rc, err := s.RecoveryCodes(ctx, "alice")
	must(t, err, "RecoveryCodes")
	if len(rc) != 2 || rc[0].Digest != "d1" || rc[0].PepperVersion != 1 {
		t.Fatalf("RecoveryCodes = %+v, want d1 and d2", rc)
	}
	must(t, s.DeleteTOTP(ctx, "alice"), "DeleteTOTP")
	wantErr(t, s.DeleteTOTP(ctx, "alice"), storage.ErrNotFound, "DeleteTOTP twice")
	if rc, _ := s.RecoveryCodes(ctx, "alice"); len(rc) != 0 {
		t.Errorf("recovery codes after the last factor went = %d, want 0", len(rc))
	}
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("third")}), "PutTOTP after delete")
}

// testTOTPStepOnce: a time step is accepted once, never an earlier one,
// and of concurrent uses of one step exactly one succeeds.
func testTOTPStepOnce(t *testing.T, ctx context.Context, s storage.Store) {
	wantErr(t, s.UseTOTPStep(ctx, "alice", 1), storage.ErrNotFound, "UseTOTPStep(no factor)")
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("s")}), "PutTOTP")
	wantErr(t, s.UseTOTPStep(ctx, "alice", 1), storage.ErrNotFound, "UseTOTPStep(unconfirmed)")
	must(t, s.ConfirmTOTP(ctx, "alice", 10, nil), "ConfirmTOTP")
	wantErr(t, s.UseTOTPStep(ctx, "alice", 10), storage.ErrInactive, "UseTOTPStep(confirming step)")
	wantErr(t, s.UseTOTPStep(ctx, "alice", 9), storage.ErrInactive, "UseTOTPStep(earlier step)")
	must(t, s.UseTOTPStep(ctx, "alice", 11), "UseTOTPStep(next)")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.UseTOTPStep(ctx, "alice", 12) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := ok.Load(); n != 1 {
		t.Errorf("concurrent uses of one step succeeded %d times, want 1", n)
	}
}

// testRecoveryCodeOnce: each code is used once; replacing them drops the
// old ones.
func testRecoveryCodeOnce(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", codes("a", "b")), "ReplaceRecoveryCodes")
	must(t, s.UseRecoveryCode(ctx, "alice", "a", future()), "UseRecoveryCode")
	wantErr(t, s.UseRecoveryCode(ctx, "alice", "a", future()), storage.ErrNotFound, "UseRecoveryCode twice")
	wantErr(t, s.UseRecoveryCode(ctx, "bob", "b", future()), storage.ErrNotFound, "UseRecoveryCode(other user)")
	rc, err := s.RecoveryCodes(ctx, "alice")
	must(t, err, "RecoveryCodes")
	if len(rc) != 1 || rc[0].Digest != "b" {
		t.Fatalf("unused codes = %+v, want only b", rc)
	}
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", codes("c")), "ReplaceRecoveryCodes again")
	wantErr(t, s.UseRecoveryCode(ctx, "alice", "b", future()), storage.ErrNotFound, "old code after replace")
	must(t, s.UseRecoveryCode(ctx, "alice", "c", future()), "new code")
}

// testPasskeys: create, list per user, look up, record a use, delete
// (the last second factor takes the recovery codes with it).
func testPasskeys(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred1", UserID: "alice", Name: "Laptop", Credential: []byte(`{"a":1}`)}), "CreatePasskey")
	must(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred2", UserID: "alice", Name: "Phone", Credential: []byte(`{}`)}), "CreatePasskey 2")
	wantErr(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred1", UserID: "bob", Name: "x", Credential: []byte(`{}`)}),
		storage.ErrConflict, "CreatePasskey(duplicate id)")
	list, err := s.ListPasskeys(ctx, "alice")
	must(t, err, "ListPasskeys")
	if len(list) != 2 || list[0].Name != "Laptop" {
		t.Fatalf("ListPasskeys = %+v", list)
	}
	if l, _ := s.ListPasskeys(ctx, "bob"); len(l) != 0 {
		t.Errorf("bob's passkeys = %d, want 0", len(l))
	}
	at := future()
	must(t, s.UpdatePasskeyUse(ctx, "cred1", []byte(`{"a":2}`), at), "UpdatePasskeyUse")
	wantErr(t, s.UpdatePasskeyUse(ctx, "nope", nil, at), storage.ErrNotFound, "UpdatePasskeyUse(missing)")
	p, err := s.GetPasskey(ctx, "cred1")
	must(t, err, "GetPasskey")
	if string(p.Credential) != `{"a":2}` || p.LastUsedAt == nil {
		t.Fatalf("GetPasskey after use = %+v", p)
	}
	wantTime(t, "LastUsedAt", *p.LastUsedAt, at)
	_, err = s.GetPasskey(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound, "GetPasskey(missing)")

	must(t, s.ReplaceRecoveryCodes(ctx, "alice", codes("r")), "ReplaceRecoveryCodes")
	wantErr(t, s.DeletePasskey(ctx, "bob", "cred1"), storage.ErrNotFound, "DeletePasskey(other user)")
	must(t, s.DeletePasskey(ctx, "alice", "cred1"), "DeletePasskey")
	if rc, _ := s.RecoveryCodes(ctx, "alice"); len(rc) != 1 {
		t.Errorf("codes with a passkey left = %d, want 1", len(rc))
	}
	must(t, s.DeletePasskey(ctx, "alice", "cred2"), "DeletePasskey last")
	if rc, _ := s.RecoveryCodes(ctx, "alice"); len(rc) != 0 {
		t.Errorf("codes after the last passkey = %d, want 0", len(rc))
	}
}

// testTwoFactorReset: the operator's reset removes the TOTP factor, every
// recovery code (used ones too) and every passkey of one user, leaves
// another user's alone, and resetting nothing is no error.
func testTwoFactorReset(t *testing.T, ctx context.Context, s storage.Store) {
	got, err := s.ResetTwoFactor(ctx, "alice")
	must(t, err, "ResetTwoFactor(nothing)")
	if got != (storage.TwoFactorReset{}) {
		t.Fatalf("ResetTwoFactor(nothing) = %+v, want zero", got)
	}
	for _, u := range []string{"alice", "bob"} {
		must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: u, Sealed: []byte("s")}), "PutTOTP "+u)
		must(t, s.ConfirmTOTP(ctx, u, 1, codes("d1", "d2", "d3")), "ConfirmTOTP "+u)
		must(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred-" + u, UserID: u, Name: "Laptop", Credential: []byte(`{}`)}), "CreatePasskey "+u)
	}
	must(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred-alice-2", UserID: "alice", Name: "Phone", Credential: []byte(`{}`)}), "CreatePasskey 2")
	must(t, s.UseRecoveryCode(ctx, "alice", "d1", time.Now()), "UseRecoveryCode")

	got, err = s.ResetTwoFactor(ctx, "alice")
	must(t, err, "ResetTwoFactor")
	if want := (storage.TwoFactorReset{TOTP: true, RecoveryCodes: 3, Passkeys: 2}); got != want {
		t.Errorf("ResetTwoFactor = %+v, want %+v", got, want)
	}
	_, err = s.GetTOTP(ctx, "alice")
	wantErr(t, err, storage.ErrNotFound, "GetTOTP after reset")
	if rc, _ := s.RecoveryCodes(ctx, "alice"); len(rc) != 0 {
		t.Errorf("recovery codes after reset = %d, want 0", len(rc))
	}
	if pk, _ := s.ListPasskeys(ctx, "alice"); len(pk) != 0 {
		t.Errorf("passkeys after reset = %d, want 0", len(pk))
	}
	// A new enrolment works at once; the reset touched nobody else.
	must(t, s.PutTOTP(ctx, &storage.TOTPFactor{UserID: "alice", Sealed: []byte("new")}), "PutTOTP after reset")
	if f, err := s.GetTOTP(ctx, "bob"); err != nil || f.ConfirmedAt == nil {
		t.Errorf("bob's factor after alice's reset: %+v, %v", f, err)
	}
	rc, _ := s.RecoveryCodes(ctx, "bob")
	pk, _ := s.ListPasskeys(ctx, "bob")
	if len(rc) != 3 || len(pk) != 1 {
		t.Errorf("bob after alice's reset: %d codes, %d passkeys; want 3 and 1", len(rc), len(pk))
	}
}
