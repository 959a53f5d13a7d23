package accounts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/internal/passwordtest"
	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// TestCheckPassword: the shared sign-in check upgrades a legacy hash in
// the store on success only, answers an unknown user and a wrong
// password alike, and reports a queue given up as ErrBusy.
func TestCheckPassword(t *testing.T) {
	f := newSelfFixture(t)
	ctx := t.Context()
	u := &storage.User{ID: "u-legacy", Username: "lena", PasswordHash: passwordtest.LegacyHash}
	if err := f.db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	gate := secret.NewPasswordGate(0)
	check := func(u *storage.User, pw string) error {
		return accounts.CheckPassword(ctx, gate, f.db, nil, u, pw)
	}
	stored := func() string {
		got, err := f.db.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.PasswordHash
	}
	if err := check(u, "wrong"); !errors.Is(err, secret.ErrPasswordMismatch) || stored() != passwordtest.LegacyHash {
		t.Fatalf("wrong password: %v, stored %q", err, stored())
	}
	if err := check(nil, passwordtest.LegacyPassword); !errors.Is(err, secret.ErrPasswordMismatch) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := check(&storage.User{ID: "no-password", Username: "np"}, ""); !errors.Is(err, secret.ErrPasswordMismatch) {
		t.Fatalf("account without a password: %v", err)
	}
	if err := check(u, passwordtest.LegacyPassword); err != nil {
		t.Fatalf("legacy hash: %v", err)
	}
	passwordtest.RequireUpgraded(t, stored())
	passwordtest.RequireUpgraded(t, u.PasswordHash) // the caller's copy follows
	if err := check(u, passwordtest.LegacyPassword); err != nil {
		t.Fatalf("upgraded hash: %v", err)
	}

	full := secret.NewPasswordGate(19)
	release, err := full.Enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := accounts.CheckPassword(cancelled, full, f.db, nil, u, passwordtest.LegacyPassword); !errors.Is(err, accounts.ErrBusy) {
		t.Fatalf("queue given up: %v, want ErrBusy", err)
	}
}
