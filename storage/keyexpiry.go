package storage

import (
	"context"
	"fmt"
	"time"
)

// ExpiringKey is a key claimed for an "expires soon" mail, with the owner
// to mail.
type ExpiringKey struct {
	Key APIKey
	// Username and Email are the owner's; Email is verified.
	Username, Email string
}

// expiringRow is one row of the candidate query: the key and its owner.
type expiringRow struct {
	APIKey
	OwnerUsername string
	OwnerEmail    string
}

// workingBetween is the condition on api_keys that a key works at now
// and expires at or before until, and that the person made it: keys made
// by another key or an app's token (a lineage parent) are a program's
// short-lived credentials, whose owner is not mailed about each one.
const workingBetween = "api_keys.revoked_at IS NULL AND (api_keys.replaced_by IS NULL OR api_keys.replaced_by = '')" +
	" AND (api_keys.parent_key_id IS NULL OR api_keys.parent_key_id = '')" +
	" AND (api_keys.parent_grant_id IS NULL OR api_keys.parent_grant_id = '')" +
	" AND api_keys.expires_at > ? AND api_keys.expires_at <= ?"

// verifiedOwner holds when the key's owner has a verified address.
const verifiedOwner = "EXISTS (SELECT 1 FROM users WHERE users.id = api_keys.user_id" +
	" AND users.email_verified_at IS NOT NULL AND users.email IS NOT NULL AND users.email <> '')"

// ClaimExpiringAPIKeys implements APIKeys: one indexed select of candidates
// (on expires_at) and then, per key, one conditional UPDATE that both
// claims and marks it; a key another caller claimed first updates no row
// and is left out.
func (d *DB) ClaimExpiringAPIKeys(ctx context.Context, now, until time.Time, limit int) ([]ExpiringKey, error) {
	if limit <= 0 {
		limit = 100
	}
	now, until = now.UTC(), until.UTC()
	var rows []expiringRow
	err := d.r(ctx).Table("api_keys").
		Select("api_keys.*, users.username AS owner_username, users.email AS owner_email").
		Joins("JOIN users ON users.id = api_keys.user_id").
		Where("api_keys.expiry_warned_at IS NULL AND "+workingBetween, now, until).
		Where("users.email_verified_at IS NOT NULL AND users.email IS NOT NULL AND users.email <> ''").
		Order("api_keys.expires_at, api_keys.id").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("expiring keys: %w", translate(err))
	}
	var out []ExpiringKey
	for _, r := range rows {
		res := d.w(ctx).Exec("UPDATE api_keys SET expiry_warned_at = ? WHERE id = ? AND expiry_warned_at IS NULL AND "+
			workingBetween+" AND "+verifiedOwner, now, r.ID, now, until)
		if res.Error != nil {
			return out, fmt.Errorf("claim expiring key: %w", translate(res.Error))
		}
		if res.RowsAffected == 1 {
			k := r.APIKey
			k.ExpiryWarnedAt = &now
			out = append(out, ExpiringKey{Key: k, Username: r.OwnerUsername, Email: r.OwnerEmail})
		}
	}
	return out, nil
}

// ReleaseExpiryWarning implements APIKeys.
func (d *DB) ReleaseExpiryWarning(ctx context.Context, keyID string) error {
	err := d.w(ctx).Exec("UPDATE api_keys SET expiry_warned_at = NULL WHERE id = ?", keyID).Error
	if err != nil {
		return fmt.Errorf("release expiry warning: %w", translate(err))
	}
	return nil
}
