package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/storage"
)

// TestCLIResetTwoFactor: `user reset-two-factor` removes the person's
// TOTP factor, recovery codes and passkeys, ends their browser sessions,
// prints what it removed (JSON or table) and logs an audit line that
// names the user and holds no secret; an unknown or missing username is
// refused.
func TestCLIResetTwoFactor(t *testing.T) {
	cliEnv(t)
	if code, _, errs := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errs)
	}
	code, out, errs := runCLI(t, "user", "create", "--username", "locked", "--password", "a-long-password-1")
	if code != 0 {
		t.Fatalf("user create: %d %s", code, errs)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("user create output %q: %v", out, err)
	}
	id, _ := created["id"].(string)
	withDB(t, func(ctx context.Context, db *storage.DB) {
		must(t, db.PutTOTP(ctx, &storage.TOTPFactor{UserID: id, Sealed: []byte("SEALED-SECRET")}))
		must(t, db.ConfirmTOTP(ctx, id, 1, []storage.RecoveryCode{{Digest: "DIGEST-ONE", PepperVersion: 1}, {Digest: "DIGEST-TWO", PepperVersion: 1}}))
		must(t, db.CreatePasskey(ctx, &storage.Passkey{ID: "CRED-ID", UserID: id, Name: "Laptop", Credential: []byte(`{}`)}))
	})

	code, out, errs = runCLI(t, "user", "reset-two-factor", "--username", "locked")
	if code != 0 {
		t.Fatalf("reset-two-factor: %d %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("reset-two-factor output %q: %v", out, err)
	}
	if got["id"] != id || got["username"] != "locked" || got["totp_removed"] != true ||
		got["recovery_codes_removed"] != 2.0 || got["passkeys_removed"] != 1.0 || got["sessions_ended"] != true {
		t.Errorf("reset-two-factor output %q", out)
	}
	if !strings.Contains(errs, "two_factor_reset") || !strings.Contains(errs, id) {
		t.Errorf("no audit line naming the user: %q", errs)
	}
	for _, secret := range []string{"SEALED-SECRET", "DIGEST-ONE", "CRED-ID", "a-long-password-1"} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("output holds %q: %q %q", secret, out, errs)
		}
	}
	withDB(t, func(ctx context.Context, db *storage.DB) {
		if _, err := db.GetTOTP(ctx, id); err == nil {
			t.Error("the TOTP factor is still there")
		}
		if rc, _ := db.RecoveryCodes(ctx, id); len(rc) != 0 {
			t.Errorf("%d recovery codes left", len(rc))
		}
		if pk, _ := db.ListPasskeys(ctx, id); len(pk) != 0 {
			t.Errorf("%d passkeys left", len(pk))
		}
		u, err := db.GetUser(ctx, id)
		must(t, err)
		if u.SessionsNotBefore == nil {
			t.Error("the sessions were not ended")
		}
	})

	// Again, as a table: nothing left to remove is no error.
	code, out, errs = runCLI(t, "user", "reset-two-factor", "--username", "locked", "-o", "table")
	if code != 0 || !strings.Contains(out, "TOTP_REMOVED") || !strings.Contains(out, "false") || !strings.Contains(out, "PASSKEYS_REMOVED        0") {
		t.Errorf("reset-two-factor -o table: %d %q %s", code, out, errs)
	}

	for _, tc := range []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"no username", []string{"user", "reset-two-factor"}, 2, "--username is required"},
		{"unknown user", []string{"user", "reset-two-factor", "--username", "nobody"}, 1, `no user is named "nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tc.args...)
			if code != tc.want || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.want, tc.msg)
			}
		})
	}
}

// withDB runs fn against the CLI's configured database.
func withDB(t *testing.T, fn func(ctx context.Context, db *storage.DB)) {
	t.Helper()
	ctx := t.Context()
	err := withApp(ctx, &strings.Builder{}, false, func(a *server.App) error {
		fn(ctx, a.DB())
		return nil
	})
	if err != nil {
		t.Fatalf("open app: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
