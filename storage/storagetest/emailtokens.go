package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func newEmailToken(digest, purpose, userID string, expiresAt time.Time) *storage.EmailToken {
	return &storage.EmailToken{Digest: digest, Purpose: purpose, UserID: userID, Email: userID + "@example.test", ExpiresAt: expiresAt}
}

func testEmailTokenUseOnce(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	now := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.CreateEmailToken(ctx, newEmailToken("d1", storage.PurposeReset, "u1", future())), "CreateEmailToken")
	wantErr(t, s.CreateEmailToken(ctx, newEmailToken("d1", storage.PurposeVerify, "u1", future())), storage.ErrConflict, "a second token with the digest")

	got, err := s.GetEmailToken(ctx, storage.PurposeReset, "d1", now)
	must(t, err, "GetEmailToken")
	if got.UserID != "u1" || got.Email != "u1@example.test" || got.UsedAt != nil {
		t.Errorf("GetEmailToken = %+v", got)
	}
	_, err = s.GetEmailToken(ctx, storage.PurposeVerify, "d1", now)
	wantErr(t, err, storage.ErrNotFound, "GetEmailToken for another purpose")
	_, err = s.UseEmailToken(ctx, storage.PurposeVerify, "d1", now)
	wantErr(t, err, storage.ErrNotFound, "UseEmailToken for another purpose")

	used, err := s.UseEmailToken(ctx, storage.PurposeReset, "d1", now)
	must(t, err, "UseEmailToken")
	if used.UsedAt == nil || !sameTime(*used.UsedAt, now) {
		t.Errorf("UsedAt = %v, want %v", used.UsedAt, now)
	}
	again, err := s.UseEmailToken(ctx, storage.PurposeReset, "d1", now)
	wantErr(t, err, storage.ErrInactive, "second UseEmailToken")
	if again == nil || again.UserID != "u1" {
		t.Errorf("second use returned %+v, want the record with ErrInactive", again)
	}
	_, err = s.GetEmailToken(ctx, storage.PurposeReset, "d1", now)
	wantErr(t, err, storage.ErrInactive, "GetEmailToken after use")
	_, err = s.UseEmailToken(ctx, storage.PurposeReset, "nope", now)
	wantErr(t, err, storage.ErrNotFound, "UseEmailToken(missing)")
}

func testEmailTokenExpired(t *testing.T, ctx context.Context, s storage.Store) {
	exp := future()
	must(t, s.CreateEmailToken(ctx, newEmailToken("d1", storage.PurposeVerify, "u1", exp)), "CreateEmailToken")
	_, err := s.GetEmailToken(ctx, storage.PurposeVerify, "d1", exp)
	wantErr(t, err, storage.ErrInactive, "GetEmailToken at expiry")
	_, err = s.UseEmailToken(ctx, storage.PurposeVerify, "d1", exp.Add(time.Second))
	wantErr(t, err, storage.ErrInactive, "UseEmailToken after expiry")
	_, err = s.UseEmailToken(ctx, storage.PurposeVerify, "d1", exp.Add(-time.Second))
	must(t, err, "UseEmailToken just before expiry")
}

func testEmailTokenConcurrentUse(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateEmailToken(ctx, newEmailToken("d1", storage.PurposeReset, "u1", future())), "CreateEmailToken")
	now := time.Now()
	errs := runConcurrently(8, func(int) error {
		_, err := s.UseEmailToken(ctx, storage.PurposeReset, "d1", now)
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrInactive):
			t.Errorf("racing UseEmailToken: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d callers used one link, want exactly 1", wins)
	}
}

func testEmailTokenPurge(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateEmailToken(ctx, newEmailToken("old", storage.PurposeReset, "u1", past())), "old")
	must(t, s.CreateEmailToken(ctx, newEmailToken("new", storage.PurposeReset, "u1", future())), "new")
	p, err := s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "PurgeExpired")
	if p["email_tokens"] != 1 {
		t.Errorf("purged %v, want email_tokens: 1", p)
	}
	_, err = s.GetEmailToken(ctx, storage.PurposeReset, "old", past().Add(-time.Hour))
	wantErr(t, err, storage.ErrNotFound, "purged token")
	_, err = s.GetEmailToken(ctx, storage.PurposeReset, "new", time.Now())
	must(t, err, "kept token")
}

func testUserUpdateProfile(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	at := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.VerifyEmail(ctx, "u1", "U1@example.test", at), "VerifyEmail (case-insensitive)")
	u, err := s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	if u.EmailVerifiedAt == nil || !sameTime(*u.EmailVerifiedAt, at) {
		t.Fatalf("EmailVerifiedAt = %v, want %v", u.EmailVerifiedAt, at)
	}
	u, err = s.UpdateProfile(ctx, "u1", "New Name", "U1@EXAMPLE.test")
	must(t, err, "UpdateProfile (same address)")
	if u.Name != "New Name" || u.EmailVerifiedAt == nil {
		t.Errorf("after a name change: %+v, want name set and still verified", u)
	}
	u, err = s.UpdateProfile(ctx, "u1", "New Name", "other@example.test")
	must(t, err, "UpdateProfile (new address)")
	if u.EmailVerifiedAt != nil {
		t.Errorf("UpdateProfile returned EmailVerifiedAt %v after an address change", u.EmailVerifiedAt)
	}
	u, err = s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	if u.Email != "other@example.test" || u.EmailVerifiedAt != nil {
		t.Errorf("stored %q verified %v, want the new address unverified", u.Email, u.EmailVerifiedAt)
	}
	wantErr(t, s.VerifyEmail(ctx, "u1", "u1@example.test", at), storage.ErrConflict, "VerifyEmail of the old address")
	wantErr(t, s.VerifyEmail(ctx, "nope", "x@example.test", at), storage.ErrNotFound, "VerifyEmail(missing)")
	_, err = s.UpdateProfile(ctx, "nope", "", "")
	wantErr(t, err, storage.ErrNotFound, "UpdateProfile(missing)")
}

func testUserSetPassword(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	must(t, s.CreateEmailToken(ctx, newEmailToken("reset", storage.PurposeReset, "u1", future())), "reset token")
	must(t, s.CreateEmailToken(ctx, newEmailToken("verify", storage.PurposeVerify, "u1", future())), "verify token")
	at := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.SetPassword(ctx, "u1", "$argon2id$new", at), "SetPassword")
	u, err := s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	if u.PasswordHash != "$argon2id$new" || u.SessionsNotBefore == nil || !sameTime(*u.SessionsNotBefore, at) {
		t.Errorf("after SetPassword: hash %q, sessions not before %v", u.PasswordHash, u.SessionsNotBefore)
	}
	_, err = s.GetEmailToken(ctx, storage.PurposeReset, "reset", time.Now())
	wantErr(t, err, storage.ErrNotFound, "an unused reset link after a password change")
	_, err = s.GetEmailToken(ctx, storage.PurposeVerify, "verify", time.Now())
	must(t, err, "a verify link survives a password change")
	wantErr(t, s.SetPassword(ctx, "nope", "x", at), storage.ErrNotFound, "SetPassword(missing)")
}

// testUserUpgradePasswordHash: the upgrade swaps the hash only while the
// stored one is still the one that was checked, and keeps sessions and
// reset links (it is the same password).
func testUserUpgradePasswordHash(t *testing.T, ctx context.Context, s storage.Store) {
	u := newUser("u1")
	must(t, s.CreateUser(ctx, u), "CreateUser")
	must(t, s.CreateEmailToken(ctx, newEmailToken("reset", storage.PurposeReset, "u1", future())), "reset token")
	must(t, s.UpgradePasswordHash(ctx, "u1", u.PasswordHash, "$argon2id$stronger"), "UpgradePasswordHash")
	got, err := s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	if got.PasswordHash != "$argon2id$stronger" || got.SessionsNotBefore != nil {
		t.Errorf("after UpgradePasswordHash: hash %q, sessions not before %v; want the new hash and sessions kept", got.PasswordHash, got.SessionsNotBefore)
	}
	_, err = s.GetEmailToken(ctx, storage.PurposeReset, "reset", time.Now())
	must(t, err, "a reset link survives a hash upgrade")
	// The password changed between the check and the upgrade: the change wins.
	must(t, s.SetPassword(ctx, "u1", "$argon2id$changed", time.Now()), "SetPassword")
	wantErr(t, s.UpgradePasswordHash(ctx, "u1", "$argon2id$stronger", "$argon2id$stale"), storage.ErrConflict, "UpgradePasswordHash of a replaced hash")
	got, err = s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	if got.PasswordHash != "$argon2id$changed" {
		t.Errorf("a stale upgrade overwrote the changed password: %q", got.PasswordHash)
	}
	wantErr(t, s.UpgradePasswordHash(ctx, "nope", "x", "y"), storage.ErrNotFound, "UpgradePasswordHash(missing)")
}

func testUserFindByEmail(t *testing.T, ctx context.Context, s storage.Store) {
	for _, id := range []string{"u1", "u2", "u3"} {
		u := newUser(id)
		if id != "u3" {
			u.Email = "Shared@Example.test"
		}
		must(t, s.CreateUser(ctx, u), "CreateUser "+id)
	}
	got, err := s.FindUsersByEmail(ctx, "shared@example.TEST")
	must(t, err, "FindUsersByEmail")
	if len(got) != 2 || got[0].ID == "u3" || got[1].ID == "u3" {
		t.Errorf("FindUsersByEmail = %+v, want u1 and u2", got)
	}
	none, err := s.FindUsersByEmail(ctx, "nobody@example.test")
	must(t, err, "FindUsersByEmail(none)")
	if none == nil || len(none) != 0 {
		t.Errorf("FindUsersByEmail(none) = %#v, want an empty slice", none)
	}
}
