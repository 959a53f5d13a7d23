package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Purposes of an EmailToken.
const (
	// PurposeVerify is a link proving the person reads mail at an address.
	PurposeVerify = "verify"
	// PurposeReset is a link letting the person choose a new password.
	PurposeReset = "reset"
)

// EmailToken is the stored half of a single-use link sent by mail: the
// SHA-256 digest of the link's token (the token itself is never stored, so
// a copy of the database opens no account), what it is for, whose it is,
// the address it was sent to, and its lifetime.
type EmailToken struct {
	Digest    string    `gorm:"primaryKey;size:64"`
	Purpose   string    `gorm:"size:16;not null"`
	UserID    string    `gorm:"size:64;not null;index"`
	Email     string    `gorm:"size:254;not null"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	// UsedAt is when the link was used; nil while it is unused.
	UsedAt *time.Time
}

// EmailTokens stores the single-use links of verification and reset mails.
type EmailTokens interface {
	// CreateEmailToken inserts t; ErrConflict when the digest exists.
	CreateEmailToken(ctx context.Context, t *EmailToken) error
	// GetEmailToken returns the token with digest and purpose without
	// using it. ErrNotFound when there is none (or it has another
	// purpose); ErrInactive, together with the record, when it was used
	// or has expired by at.
	GetEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*EmailToken, error)
	// UseEmailToken marks the token used at at and returns it, exactly
	// once however many callers race: errors as GetEmailToken, so a
	// second use gets ErrInactive with the record.
	UseEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*EmailToken, error)
}

// CreateEmailToken implements EmailTokens.
func (d *DB) CreateEmailToken(ctx context.Context, t *EmailToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = d.now()
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return translate(d.w(ctx).Create(t).Error)
}

// GetEmailToken implements EmailTokens.
func (d *DB) GetEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*EmailToken, error) {
	return d.getEmailToken(d.r(ctx), purpose, digest, at)
}

func (d *DB) getEmailToken(db *gorm.DB, purpose, digest string, at time.Time) (*EmailToken, error) {
	var t EmailToken
	if err := db.Where("digest = ? AND purpose = ?", digest, purpose).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("%s link: %w", purpose, translate(err))
	}
	if t.UsedAt != nil || !at.Before(t.ExpiresAt) {
		return &t, fmt.Errorf("%s link used or expired: %w", purpose, ErrInactive)
	}
	return &t, nil
}

// UseEmailToken implements EmailTokens. The conditional UPDATE is what
// makes the link single-use: of two racing callers one changes the row
// and the other changes nothing.
func (d *DB) UseEmailToken(ctx context.Context, purpose, digest string, at time.Time) (*EmailToken, error) {
	var out *EmailToken
	err := d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&EmailToken{}).
			Where("digest = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", digest, purpose, at.UTC()).
			Update("used_at", at.UTC())
		if res.Error != nil {
			return translate(res.Error)
		}
		t, err := d.getEmailToken(d.w(ctx), purpose, digest, at)
		out = t
		if res.RowsAffected == 0 {
			if err == nil { // unchanged but valid cannot happen; be safe
				err = fmt.Errorf("%s link: %w", purpose, ErrInactive)
			}
			return err
		}
		if errors.Is(err, ErrInactive) {
			return nil // we just used it
		}
		return err
	})
	if err != nil && !errors.Is(err, ErrInactive) {
		return nil, err
	}
	return out, err
}
