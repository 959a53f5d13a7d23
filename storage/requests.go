package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateRequest implements Requests.
func (d *DB) CreateRequest(ctx context.Context, r *Request) error {
	if r.RequestedAt.IsZero() {
		r.RequestedAt = d.now().UTC()
	}
	// SQLite stores times as text with their zone offset and compares them as
	// text, so only UTC keeps expiry checks and purging correct.
	r.RequestedAt, r.ExpiresAt = r.RequestedAt.UTC(), r.ExpiresAt.UTC()
	return translate(d.w(ctx).Create(r).Error)
}

// GetRequest implements Requests.
func (d *DB) GetRequest(ctx context.Context, kind Kind, signature string) (*Request, error) {
	var r Request
	if err := d.r(ctx).Where("kind = ? AND signature = ?", kind, signature).Take(&r).Error; err != nil {
		return nil, translate(err)
	}
	if !r.Active {
		return &r, fmt.Errorf("%s record: %w", kind, ErrInactive)
	}
	return &r, nil
}

// DeactivateRequest implements Requests. The conditional UPDATE makes the
// flip atomic on every backend: only one caller sees a changed row.
func (d *DB) DeactivateRequest(ctx context.Context, kind Kind, signature string) error {
	res := d.w(ctx).Model(&Request{}).
		Where("kind = ? AND signature = ? AND active = ?", kind, signature, true).
		Update("active", false)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var n int64
	if err := d.w(ctx).Model(&Request{}).Where("kind = ? AND signature = ?", kind, signature).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return fmt.Errorf("%s record: %w", kind, ErrNotFound)
	}
	return fmt.Errorf("%s record: %w", kind, ErrInactive)
}

// DeleteRequest implements Requests.
func (d *DB) DeleteRequest(ctx context.Context, kind Kind, signature string) error {
	return translate(d.w(ctx).Where("kind = ? AND signature = ?", kind, signature).Delete(&Request{}).Error)
}

// DeactivateByRequestID implements Requests.
func (d *DB) DeactivateByRequestID(ctx context.Context, kind Kind, requestID string) (int64, error) {
	res := d.w(ctx).Model(&Request{}).
		Where("kind = ? AND request_id = ? AND active = ?", kind, requestID, true).
		Update("active", false)
	return res.RowsAffected, translate(res.Error)
}

// DeleteByRequestID implements Requests.
func (d *DB) DeleteByRequestID(ctx context.Context, kind Kind, requestID string) (int64, error) {
	res := d.w(ctx).Where("kind = ? AND request_id = ?", kind, requestID).Delete(&Request{})
	return res.RowsAffected, translate(res.Error)
}

// RevokeGrants implements Requests. Codes go first: on PostgreSQL the
// delete waits for a concurrent exchange holding the code's row, and the
// statements after it then see the tokens that exchange committed. The
// API keys those grants created (and their descendants) are revoked with
// them.
func (d *DB) RevokeGrants(ctx context.Context, subject, clientID string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		for _, kind := range []Kind{KindCode, KindPKCE, KindOIDC} {
			if err := d.w(ctx).Where("kind = ? AND subject = ? AND client_id = ?", kind, subject, clientID).
				Delete(&Request{}).Error; err != nil {
				return translate(err)
			}
		}
		if _, err := d.RevokeAPIKeysByParent(ctx, KeyParent{ClientID: clientID, UserID: subject}); err != nil {
			return err
		}
		if err := d.w(ctx).Where("kind = ? AND subject = ? AND client_id = ?", KindAccess, subject, clientID).
			Delete(&Request{}).Error; err != nil {
			return translate(err)
		}
		return translate(d.w(ctx).Model(&Request{}).
			Where("kind = ? AND subject = ? AND client_id = ?", KindRefresh, subject, clientID).
			Update("active", false).Error)
	})
}

// SaveConsent implements Consents.
func (d *DB) SaveConsent(ctx context.Context, c *Consent) error {
	now := d.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.UpdatedAt = now
	return translate(d.w(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"scopes", "updated_at"}),
	}).Create(c).Error)
}

// GetConsent implements Consents.
func (d *DB) GetConsent(ctx context.Context, userID, clientID string) (*Consent, error) {
	var c Consent
	if err := d.r(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// ListConsents implements Consents.
func (d *DB) ListConsents(ctx context.Context, userID string) ([]Consent, error) {
	var cs []Consent
	err := d.r(ctx).Where("user_id = ?", userID).Order("updated_at DESC, client_id").Find(&cs).Error
	return cs, translate(err)
}

// DeleteConsent implements Consents.
func (d *DB) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res := d.w(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Delete(&Consent{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("consent: %w", ErrNotFound)
	}
	return nil
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

// PurgeExpired implements Store. It deletes in batches of at most limit rows
// per table so no statement holds locks for long.
func (d *DB) PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (Purged, error) {
	if limit <= 0 {
		limit = 500
	}
	cutoff = cutoff.UTC()
	out := Purged{}
	var keys []Request
	if err := d.r(ctx).Select("kind", "signature").Where("expires_at < ?", cutoff).Limit(limit).Find(&keys).Error; err != nil {
		return out, translate(err)
	}
	byKind := map[Kind][]string{}
	for _, k := range keys {
		byKind[k.Kind] = append(byKind[k.Kind], k.Signature)
	}
	for kind, sigs := range byKind {
		res := d.w(ctx).Where("kind = ? AND signature IN ? AND expires_at < ?", kind, sigs, cutoff).Delete(&Request{})
		if res.Error != nil {
			return out, translate(res.Error)
		}
		out[PurgeTable(kind)] += res.RowsAffected
	}
	var jtis []string
	if err := d.r(ctx).Model(&UsedJTI{}).Where("expires_at < ?", cutoff).Limit(limit).Pluck("jti", &jtis).Error; err != nil {
		return out, translate(err)
	}
	if len(jtis) > 0 {
		res := d.w(ctx).Where("jti IN ? AND expires_at < ?", jtis, cutoff).Delete(&UsedJTI{})
		if res.Error != nil {
			return out, translate(res.Error)
		}
		out["used_jtis"] += res.RowsAffected
	}
	return out, nil
}

// Ping implements Store.
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.writer.DB()
	if err != nil {
		return translate(err)
	}
	return translate(sqlDB.PingContext(ctx))
}

// Close implements Store.
func (d *DB) Close() error {
	var first error
	for _, g := range []*gorm.DB{d.reader, d.writer} {
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
