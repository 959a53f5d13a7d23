package accounts

import (
	"context"
	"fmt"

	"github.com/latchkey/latchkey/storage"
)

// FieldConfirmUsername names the field where a person types their username
// to confirm deleting their account.
const FieldConfirmUsername = "confirm_username"

// DeleteAccount deletes u's account for good once the person proved it
// twice: current is their password and typed their username, exactly. It
// then removes the user and everything that is theirs in one transaction
// (storage.Users.DeleteUser: API keys with their lineage and exchanged
// tokens, grants given, clients owned, sessions, mailed links; the key
// audit log keeps no personal data) and returns what went, so the caller
// can tell the apps concerned (back-channel logout). The username is free
// afterwards. A refused confirmation is a FieldErrors naming
// FieldCurrentPassword or FieldConfirmUsername and changes nothing.
func (s *SelfService) DeleteAccount(ctx context.Context, u *storage.User, current, typed string) (*storage.UserDeletion, error) {
	var fe FieldErrors
	if current == "" || len(current) > maxPasswordLen {
		fe = append(fe, &FieldError{Field: FieldCurrentPassword, Message: "Enter your current password."})
	}
	switch {
	case typed == "":
		fe = append(fe, &FieldError{Field: FieldConfirmUsername, Message: "Type your username, " + u.Username + ", to confirm."})
	case typed != u.Username:
		fe = append(fe, &FieldError{Field: FieldConfirmUsername, Message: "That is not your username. Type " + u.Username + " exactly to confirm."})
	}
	if len(fe) > 0 {
		return nil, fe
	}
	// The hash goes with the account: checked without an upgrade.
	if err := s.cfg.Gate.Verify(ctx, u.PasswordHash, current); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return nil, FieldErrors{{Field: FieldCurrentPassword, Message: "That is not your current password."}}
	}
	del, err := s.store.DeleteUser(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("accounts: delete account: %w", err)
	}
	return del, nil
}
