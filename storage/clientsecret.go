package storage

import (
	"context"
	"time"
)

// A client secret rotation may keep the replaced secret working for a
// grace period, so a deployment can switch to the new secret without
// downtime (as GitHub and Auth0 allow): the client then has two valid
// secrets, the current one and the previous one, and never more. The
// rule that the previous secret counts only before its expiry lives in
// PreviousSecretActive; the janitor clears expired ones (PurgeExpired), but
// an expired digest that is still stored authenticates nothing.

// MaxSecretGrace is the longest a rotated-out client secret may keep
// working.
const MaxSecretGrace = 30 * 24 * time.Hour

// RotateSecret makes digest (under pepper version) the client's secret.
// With grace > 0 the secret it replaces stays valid until now + grace
// (capped at MaxSecretGrace); with grace ≤ 0 it stops at once. A previous
// secret from an earlier rotation is dropped either way: at most two
// secrets are valid at once.
func (c *Client) RotateSecret(digest []byte, version int, now time.Time, grace time.Duration) {
	c.EndSecretGrace()
	if grace > 0 && len(c.SecretDigest) > 0 {
		until := now.Add(min(grace, MaxSecretGrace)).UTC()
		c.PreviousSecretDigest, c.PreviousSecretVersion, c.PreviousSecretExpiresAt = c.SecretDigest, c.SecretVersion, &until
	}
	c.SecretDigest, c.SecretVersion = digest, version
}

// EndSecretGrace stops the previous secret now: only the current secret
// authenticates the client from then on.
func (c *Client) EndSecretGrace() {
	c.PreviousSecretDigest, c.PreviousSecretVersion, c.PreviousSecretExpiresAt = nil, 0, nil
}

// PreviousSecretActive reports whether the previous secret still
// authenticates the client at now: it exists and now is before its expiry.
func (c *Client) PreviousSecretActive(now time.Time) bool {
	return len(c.PreviousSecretDigest) > 0 && c.PreviousSecretExpiresAt != nil && now.Before(*c.PreviousSecretExpiresAt)
}

// clearExpiredPreviousSecrets clears, for at most limit clients, a
// previous secret whose grace ended before cutoff, and returns how many it
// cleared. Cached copies are invalidated on every instance like any other
// client update, though an expired digest authenticates nothing anyway;
// updated_at stays, as nothing a person set has changed.
func (d *DB) clearExpiredPreviousSecrets(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := d.InTx(ctx, func(ctx context.Context) error {
		var ids []string
		if err := d.w(ctx).Model(&Client{}).Where("previous_secret_expires_at < ?", cutoff).Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return translate(err)
		}
		if len(ids) == 0 {
			return nil
		}
		res := d.w(ctx).Model(&Client{}).Where("id IN ? AND previous_secret_expires_at < ?", ids, cutoff).
			UpdateColumns(map[string]any{"previous_secret_digest": nil, "previous_secret_version": 0, "previous_secret_expires_at": nil})
		if res.Error != nil {
			return translate(res.Error)
		}
		n = res.RowsAffected
		for _, id := range ids {
			if err := d.changed(ctx, Invalidation{Topic: TopicClient, ID: id}); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
