package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// HashUpgrader stores a password re-hashed with the current argon2id
// parameters (storage.Users.UpgradePasswordHash).
type HashUpgrader interface {
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
}

// CheckPassword is the one sign-in password check, shared by the login
// form, HTTP Basic on the API and every page that asks for the password
// again. It checks password for u through gate — u nil (unknown username)
// costs what a check with the current parameters costs, so usernames
// cannot be told apart by timing — and, when the password is right and
// u's hash was made with older parameters, stores the hash the gate made
// with the current ones (secret.PasswordGate.Check). A failed upgrade is
// logged and the sign-in stands: the old hash still verifies and is
// upgraded on a later login; a password changed in between wins
// (storage.ErrConflict).
//
// It returns nil, secret.ErrPasswordMismatch (also for u nil or a
// malformed hash), or ErrBusy wrapping ctx's error when ctx ended while
// queued for the gate.
func CheckPassword(ctx context.Context, gate *secret.PasswordGate, store HashUpgrader, log *slog.Logger, u *storage.User, password string) error {
	hash := ""
	if u != nil {
		hash = u.PasswordHash // "" (no password): as costly as an unknown user, never a match
	}
	upgraded, err := gate.Check(ctx, hash, password)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return secret.ErrPasswordMismatch
	}
	if upgraded != "" && store != nil {
		if err := store.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, upgraded); err != nil && !errors.Is(err, storage.ErrConflict) {
			if log != nil {
				log.WarnContext(ctx, "password hash upgrade", "user_id", u.ID, "error", err)
			}
		} else if err == nil {
			u.PasswordHash = upgraded
		}
	}
	return nil
}
