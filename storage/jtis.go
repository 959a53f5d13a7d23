package storage

import (
	"context"
	"time"
)

// UsedJTI remembers a client-assertion JWT id until it expires, so a
// private_key_jwt assertion cannot be replayed (RFC 7523 §3).
type UsedJTI struct {
	JTI       string    `gorm:"primaryKey;size:128"`
	ExpiresAt time.Time `gorm:"index;not null"`
}

// MarkJTI implements Store. An expired record for the same jti is replaced.
func (d *DB) MarkJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		now := d.now().UTC()
		if err := d.w(ctx).Where("jti = ? AND expires_at < ?", jti, now).Delete(&UsedJTI{}).Error; err != nil {
			return translate(err)
		}
		return translate(d.w(ctx).Create(&UsedJTI{JTI: jti, ExpiresAt: expiresAt.UTC()}).Error)
	})
}

// JTIKnown implements Store.
func (d *DB) JTIKnown(ctx context.Context, jti string) (bool, error) {
	var n int64
	err := d.r(ctx).Model(&UsedJTI{}).Where("jti = ? AND expires_at >= ?", jti, d.now().UTC()).Count(&n).Error
	return n > 0, translate(err)
}
