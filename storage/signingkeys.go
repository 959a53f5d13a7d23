package storage

import (
	"context"
	"time"
)

// SigningKey is a key that signs ID tokens and JWT access tokens (RFC 7515).
// PrivateKeySealed is the PKCS#8 DER of the private key sealed with
// AES-256-GCM by the caller (package oauth); storage never sees it in the
// clear. The newest key with no RetiredAt signs; a retired key still
// verifies, and stays published, until every token it signed has expired.
type SigningKey struct {
	KID              string    `gorm:"column:kid;primaryKey;size:64"`
	Alg              string    `gorm:"size:16;not null"`
	PrivateKeySealed []byte    `gorm:"not null"`
	CreatedAt        time.Time `gorm:"not null"`
	// RetiredAt is when a newer key took over signing; nil = still signing.
	RetiredAt *time.Time
}

// SigningKeys stores the signing key ring.
type SigningKeys interface {
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k as the key that signs from now on and retires
	// every other key not yet retired, in one transaction, and tells every
	// instance (TopicSigningKey). ErrConflict when k.KID is taken.
	AddSigningKey(ctx context.Context, k *SigningKey) error
	// DeleteSigningKeysRetiredBefore removes the keys retired before
	// cutoff (no token they signed is still valid) and returns how many.
	DeleteSigningKeysRetiredBefore(ctx context.Context, cutoff time.Time) (int64, error)
}

var _ SigningKeys = (*DB)(nil)

// ListSigningKeys implements SigningKeys.
func (d *DB) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var ks []SigningKey
	err := d.r(ctx).Order("created_at DESC, kid").Find(&ks).Error
	for i := range ks {
		ks[i].CreatedAt = ks[i].CreatedAt.UTC()
		ks[i].RetiredAt = utcPtr(ks[i].RetiredAt)
	}
	return ks, translate(err)
}

// AddSigningKey implements SigningKeys.
func (d *DB) AddSigningKey(ctx context.Context, k *SigningKey) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		now := d.now().UTC()
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
		}
		k.CreatedAt = k.CreatedAt.UTC()
		k.RetiredAt = nil
		if err := d.w(ctx).Model(&SigningKey{}).Where("retired_at IS NULL").Update("retired_at", now).Error; err != nil {
			return translate(err)
		}
		if err := d.w(ctx).Create(k).Error; err != nil {
			return translate(err)
		}
		return d.changed(ctx, Invalidation{Topic: TopicSigningKey, ID: k.KID})
	})
}

// DeleteSigningKeysRetiredBefore implements SigningKeys.
func (d *DB) DeleteSigningKeysRetiredBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	res := d.w(ctx).Where("retired_at IS NOT NULL AND retired_at < ?", cutoff.UTC()).Delete(&SigningKey{})
	return res.RowsAffected, translate(res.Error)
}
