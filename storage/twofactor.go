package storage

import (
	"context"
	"fmt"
	"time"
)

// TOTPFactor is a user's time-based one-time-password authenticator
// (RFC 6238). Sealed holds the shared secret encrypted (AES-GCM, never in
// plain text). A factor with no ConfirmedAt is an enrolment in progress:
// it does not protect the account until a code from it is confirmed.
// LastStep is the last time step (RFC 6238 §4) a code was accepted for,
// so each code is accepted once (§5.2).
type TOTPFactor struct {
	UserID      string `gorm:"primaryKey;size:64"`
	Sealed      []byte `gorm:"not null"`
	ConfirmedAt *time.Time
	LastStep    int64     `gorm:"not null;default:0"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
}

// RecoveryCode is one single-use recovery code of a user, stored as an
// HMAC-SHA256 digest (hex) under the server pepper of PepperVersion.
type RecoveryCode struct {
	UserID        string `gorm:"primaryKey;size:64"`
	Digest        string `gorm:"primaryKey;size:64"`
	PepperVersion int    `gorm:"not null"`
	UsedAt        *time.Time
	CreatedAt     time.Time `gorm:"not null"`
}

// Passkey is a WebAuthn credential registered by a user (WebAuthn Level 3
// §4 "credential record"). ID is the credential id, base64url without
// padding; Credential is the credential record as the WebAuthn library
// serialises it (public key, sign count, flags, transports).
type Passkey struct {
	ID         string    `gorm:"primaryKey;size:1400"`
	UserID     string    `gorm:"index;size:64;not null"`
	Name       string    `gorm:"size:100;not null"`
	Credential []byte    `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt *time.Time
}

// TwoFactor stores second factors: TOTP authenticators, recovery codes and
// passkeys.
type TwoFactor interface {
	// PutTOTP stores a new, unconfirmed TOTP factor for f.UserID,
	// replacing an unconfirmed one; ErrConflict when a confirmed factor
	// exists (disable it first).
	PutTOTP(ctx context.Context, f *TOTPFactor) error
	// GetTOTP returns the user's TOTP factor, confirmed or not, or
	// ErrNotFound.
	GetTOTP(ctx context.Context, userID string) (*TOTPFactor, error)
	// ConfirmTOTP turns the user's unconfirmed factor on, recording step
	// as used, and replaces the user's recovery codes with codes, in one
	// transaction; ErrNotFound when there is no unconfirmed factor.
	ConfirmTOTP(ctx context.Context, userID string, step int64, codes []RecoveryCode) error
	// UseTOTPStep records that a code for step was accepted. It succeeds
	// only for a confirmed factor whose LastStep is below step, atomically,
	// so a code is accepted once across every instance; ErrInactive when
	// step (or a later one) was already used, ErrNotFound when the user
	// has no confirmed factor.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's TOTP factor and, when the user has no
	// passkey left either, the recovery codes; ErrNotFound when there was
	// no factor.
	DeleteTOTP(ctx context.Context, userID string) error

	// RecoveryCodes lists the user's unused recovery codes.
	RecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error)
	// ReplaceRecoveryCodes replaces every recovery code of the user.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error
	// UseRecoveryCode marks an unused code used at at, atomically;
	// ErrNotFound when the user has no such unused code.
	UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time) error

	// CreatePasskey stores a new passkey; ErrConflict when its id exists.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// GetPasskey returns the passkey with id, or ErrNotFound.
	GetPasskey(ctx context.Context, id string) (*Passkey, error)
	// UpdatePasskeyUse stores the credential record after a sign-in (its
	// sign count and flags) and the time of use; ErrNotFound when gone.
	UpdatePasskeyUse(ctx context.Context, id string, credential []byte, at time.Time) error
	// DeletePasskey removes the user's passkey id; ErrNotFound when the
	// user has no such passkey. The recovery codes are removed with the
	// user's last second factor.
	DeletePasskey(ctx context.Context, userID, id string) error

	// ResetTwoFactor removes every second factor of the user — the TOTP
	// factor (confirmed or an enrolment in progress), every recovery code
	// (used or not) and every passkey — in one transaction, and says what
	// it removed. It is the operator's way back in for a person who lost
	// them all. A user with none (or no such user) is no error: the
	// result is all zero.
	ResetTwoFactor(ctx context.Context, userID string) (TwoFactorReset, error)
}

// TwoFactorReset is what ResetTwoFactor removed.
type TwoFactorReset struct {
	TOTP          bool  // a TOTP factor, confirmed or not
	RecoveryCodes int64 // recovery codes, used or not
	Passkeys      int64
}

// PutTOTP implements TwoFactor.
func (d *DB) PutTOTP(ctx context.Context, f *TOTPFactor) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		var n int64
		if err := d.w(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND confirmed_at IS NOT NULL", f.UserID).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n > 0 {
			return fmt.Errorf("totp factor of %q is on: %w", f.UserID, ErrConflict)
		}
		if err := d.w(ctx).Where("user_id = ?", f.UserID).Delete(&TOTPFactor{}).Error; err != nil {
			return translate(err)
		}
		now := d.now().UTC()
		f.ConfirmedAt, f.LastStep, f.CreatedAt, f.UpdatedAt = nil, 0, now, now
		return translate(d.w(ctx).Create(f).Error)
	})
}

// GetTOTP implements TwoFactor.
func (d *DB) GetTOTP(ctx context.Context, userID string) (*TOTPFactor, error) {
	var f TOTPFactor
	if err := d.r(ctx).Where("user_id = ?", userID).Take(&f).Error; err != nil {
		return nil, translate(err)
	}
	return &f, nil
}

// ConfirmTOTP implements TwoFactor.
func (d *DB) ConfirmTOTP(ctx context.Context, userID string, step int64, codes []RecoveryCode) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		now := d.now().UTC()
		res := d.w(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND confirmed_at IS NULL", userID).
			Updates(map[string]any{"confirmed_at": now, "last_step": step, "updated_at": now})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("unconfirmed totp factor of %q: %w", userID, ErrNotFound)
		}
		return d.ReplaceRecoveryCodes(ctx, userID, codes)
	})
}

// UseTOTPStep implements TwoFactor.
func (d *DB) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&TOTPFactor{}).
			Where("user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", userID, step).
			Updates(map[string]any{"last_step": step, "updated_at": d.now().UTC()})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
		var n int64
		if err := d.w(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n == 0 {
			return fmt.Errorf("totp factor of %q: %w", userID, ErrNotFound)
		}
		return fmt.Errorf("totp step %d of %q already used: %w", step, userID, ErrInactive)
	})
}

// DeleteTOTP implements TwoFactor.
func (d *DB) DeleteTOTP(ctx context.Context, userID string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("user_id = ?", userID).Delete(&TOTPFactor{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("totp factor of %q: %w", userID, ErrNotFound)
		}
		return d.dropCodesWithLastFactor(ctx, userID)
	})
}

// dropCodesWithLastFactor removes the user's recovery codes when no
// confirmed TOTP factor and no passkey is left: they recover a second
// factor, and there is none.
func (d *DB) dropCodesWithLastFactor(ctx context.Context, userID string) error {
	var totp, keys int64
	if err := d.w(ctx).Model(&TOTPFactor{}).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Count(&totp).Error; err != nil {
		return translate(err)
	}
	if err := d.w(ctx).Model(&Passkey{}).Where("user_id = ?", userID).Count(&keys).Error; err != nil {
		return translate(err)
	}
	if totp+keys > 0 {
		return nil
	}
	return translate(d.w(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error)
}

// RecoveryCodes implements TwoFactor.
func (d *DB) RecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error) {
	var out []RecoveryCode
	err := d.r(ctx).Where("user_id = ? AND used_at IS NULL", userID).Order("digest").Find(&out).Error
	return out, translate(err)
}

// ReplaceRecoveryCodes implements TwoFactor.
func (d *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.w(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}).Error; err != nil {
			return translate(err)
		}
		if len(codes) == 0 {
			return nil
		}
		now := d.now().UTC()
		for i := range codes {
			codes[i].UserID, codes[i].UsedAt, codes[i].CreatedAt = userID, nil, now
		}
		return translate(d.w(ctx).Create(&codes).Error)
	})
}

// UseRecoveryCode implements TwoFactor.
func (d *DB) UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time) error {
	res := d.w(ctx).Model(&RecoveryCode{}).Where("user_id = ? AND digest = ? AND used_at IS NULL", userID, digest).
		Update("used_at", at.UTC())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("recovery code: %w", ErrNotFound)
	}
	return nil
}

// CreatePasskey implements TwoFactor.
func (d *DB) CreatePasskey(ctx context.Context, p *Passkey) error {
	p.CreatedAt = d.now().UTC()
	return translate(d.w(ctx).Create(p).Error)
}

// ListPasskeys implements TwoFactor.
func (d *DB) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	var out []Passkey
	err := d.r(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&out).Error
	return out, translate(err)
}

// GetPasskey implements TwoFactor.
func (d *DB) GetPasskey(ctx context.Context, id string) (*Passkey, error) {
	var p Passkey
	if err := d.r(ctx).Where("id = ?", id).Take(&p).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// UpdatePasskeyUse implements TwoFactor.
func (d *DB) UpdatePasskeyUse(ctx context.Context, id string, credential []byte, at time.Time) error {
	res := d.w(ctx).Model(&Passkey{}).Where("id = ?", id).
		Updates(map[string]any{"credential": credential, "last_used_at": at.UTC()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("passkey: %w", ErrNotFound)
	}
	return nil
}

// DeletePasskey implements TwoFactor.
func (d *DB) DeletePasskey(ctx context.Context, userID, id string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("user_id = ? AND id = ?", userID, id).Delete(&Passkey{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("passkey: %w", ErrNotFound)
		}
		return d.dropCodesWithLastFactor(ctx, userID)
	})
}

// ResetTwoFactor implements TwoFactor.
func (d *DB) ResetTwoFactor(ctx context.Context, userID string) (TwoFactorReset, error) {
	var out TwoFactorReset
	err := d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("user_id = ?", userID).Delete(&TOTPFactor{})
		if res.Error != nil {
			return translate(res.Error)
		}
		out.TOTP = res.RowsAffected > 0
		if res = d.w(ctx).Where("user_id = ?", userID).Delete(&RecoveryCode{}); res.Error != nil {
			return translate(res.Error)
		}
		out.RecoveryCodes = res.RowsAffected
		if res = d.w(ctx).Where("user_id = ?", userID).Delete(&Passkey{}); res.Error != nil {
			return translate(res.Error)
		}
		out.Passkeys = res.RowsAffected
		return nil
	})
	if err != nil {
		return TwoFactorReset{}, err
	}
	return out, nil
}
