package storage

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// APIKey is a long-lived credential a user created. The key itself is never
// stored: Digest is HMAC-SHA256 of it under the server pepper of version
// PepperVersion. Sealed holds the key encrypted (AES-GCM) only when the
// deployment enabled recoverable keys.
type APIKey struct {
	ID            string   `gorm:"primaryKey;size:64"`
	UserID        string   `gorm:"size:64;not null;uniqueIndex:idx_api_keys_user_handle,priority:1"`
	Handle        string   `gorm:"size:64;not null;uniqueIndex:idx_api_keys_user_handle,priority:2"`
	Alias         string   `gorm:"size:200"`
	Display       string   `gorm:"size:64;not null"` // prefix + env + first 4 random characters
	Environment   string   `gorm:"size:8;not null"`
	Tier          string   `gorm:"size:32;not null"`
	Scopes        []string `gorm:"serializer:json"`
	Digest        []byte   `gorm:"size:32;not null;uniqueIndex"`
	PepperVersion int      `gorm:"not null"`
	Sealed        []byte
	// RotatedFrom is the id of the key this one replaced.
	RotatedFrom string `gorm:"size:64"`
	// ReplacedBy is the id of the key that replaced this one by rotation
	// ("" while it has not been rotated).
	ReplacedBy string `gorm:"size:64"`
	// The lineage: the credential that created the key. ParentKeyID is the
	// key behind it (the API key itself, or the key a token was exchanged
	// from); ParentGrantID and ParentClientID are the OAuth grant (request
	// id) and client of the access token that created it. All are empty
	// for keys made by the owner signed in (session or password).
	// Revoking the parent revokes the key (RevokeAPIKeysByParent).
	ParentKeyID    string     `gorm:"size:64;index"`
	ParentGrantID  string     `gorm:"size:64;index"`
	ParentClientID string     `gorm:"size:64;index"`
	CreatedAt      time.Time  `gorm:"not null"`
	UpdatedAt      time.Time  `gorm:"not null"`
	ExpiresAt      *time.Time `gorm:"index"`
	RevokedAt      *time.Time
	LastUsedAt     *time.Time
	UsageCount     int64 `gorm:"not null;default:0"`
	// ExpiryWarnedAt is when the owner was mailed that the key expires
	// soon (nil = not yet): ClaimExpiringAPIKeys sets it. A rotation's new
	// key starts without it; lengthening the expiry past the warning
	// window clears it (keys.Service.Update), so a later approach warns
	// again.
	ExpiryWarnedAt *time.Time
	// OrgID is the organization the key acts in ("" = the owner's personal
	// workspace only): a personal key bound to an organization carries
	// its owner's rights there as they are at each request; a workspace
	// key belongs to one of its tenants.
	OrgID string `gorm:"size:64;index"`
	// TenantID is set for a workspace key: the tenant that owns it (and
	// then UserID holds the same id, so handles are unique per tenant).
	TenantID string `gorm:"size:64;index"`
	// Tenants narrows a personal organization key to some tenants (empty =
	// every tenant its owner reaches).
	Tenants []string `gorm:"serializer:json"`
	// CreatedBy is the person who made the key (for workspace keys, whose
	// owner is a tenant); "" for keys made before organizations existed.
	CreatedBy string `gorm:"size:64"`
}

// KeyEvent is one entry of a key's audit log.
type KeyEvent struct {
	ID     uint64    `gorm:"primaryKey;autoIncrement"`
	KeyID  string    `gorm:"size:64;not null;index"`
	UserID string    `gorm:"size:64;not null;index"`
	Type   string    `gorm:"size:32;not null"` // created, rotated, revoked, exchanged, updated, new_ip
	IP     string    `gorm:"size:64"`
	Detail string    `gorm:"size:500"`
	At     time.Time `gorm:"not null;index"`
}

// KeyUsage is a batched usage record for one key.
type KeyUsage struct {
	KeyID    string
	LastUsed time.Time
	Count    int64
}

// APIKeys stores API keys and their audit log.
type APIKeys interface {
	// CreateAPIKey inserts k; ErrConflict when the owner already has the
	// handle or the digest exists; ErrNotFound when the owner does not
	// exist (or is being deleted: see DeleteUser) — the user, or for a
	// workspace key the tenant (TenantID, with UserID equal to it) — or
	// the key's organization (OrgID) does not.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByDigest returns the key with digest (revoked and expired
	// keys included: the caller decides), or ErrNotFound.
	GetAPIKeyByDigest(ctx context.Context, digest []byte) (*APIKey, error)
	// GetAPIKey returns the key with id, or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	// LockAPIKey returns the key with id as it is now, its row locked
	// against concurrent changes until the caller's transaction ends
	// (SELECT … FOR UPDATE on PostgreSQL; SQLite's one writer serialises
	// transactions), or ErrNotFound.
	LockAPIKey(ctx context.Context, id string) (*APIKey, error)
	// GetAPIKeyByHandle returns the user's key with handle, or ErrNotFound.
	GetAPIKeyByHandle(ctx context.Context, userID, handle string) (*APIKey, error)
	// ListAPIKeys returns a user's keys, newest first.
	ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error)
	// UpdateAPIKey applies fn to the key in one transaction; ErrNotFound
	// when it does not exist.
	UpdateAPIKey(ctx context.Context, id string, fn func(*APIKey) error) error
	// DeleteAPIKeys removes the user's keys with the given ids that are
	// revoked (only those: an unrevoked key is never deleted) in one
	// transaction, publishing an invalidation for each like UpdateAPIKey,
	// and returns how many it removed. Their audit log (key events) stays;
	// their handles become free.
	DeleteAPIKeys(ctx context.Context, userID string, ids []string) (int64, error)
	// RecordKeyUsage adds batched usage: count and the latest use time.
	RecordKeyUsage(ctx context.Context, usage []KeyUsage) error
	// AddKeyEvent appends to the audit log.
	AddKeyEvent(ctx context.Context, e *KeyEvent) error
	// ListKeyEvents returns a key's audit log, newest first, at most limit.
	ListKeyEvents(ctx context.Context, keyID string, limit int) ([]KeyEvent, error)
	// PurgeKeyEvents deletes at most limit audit entries recorded before
	// before (the oldest first) and returns how many it removed.
	PurgeKeyEvents(ctx context.Context, before time.Time, limit int) (int64, error)
	// ListAPIKeyChildren returns the keys, not revoked, whose ParentKeyID
	// is parentKeyID, oldest first.
	ListAPIKeyChildren(ctx context.Context, parentKeyID string) ([]APIKey, error)
	// RevokeAPIKeysByParent revokes, in one transaction, every key not yet
	// revoked that p selects and, transitively, every key descending from
	// them (by ParentKeyID); it deletes the access tokens exchanged from
	// them (their grant id is the key id) and publishes an invalidation
	// for each, like UpdateAPIKey. It returns the keys it revoked. A p
	// selecting nothing (no KeyID, GrantID or ClientID) revokes nothing.
	RevokeAPIKeysByParent(ctx context.Context, p KeyParent) ([]APIKey, error)
	// ClaimExpiringAPIKeys claims, for an "expires soon" mail, at most
	// limit keys (soonest expiry first) that work at now (not revoked, not
	// rotated out, not expired), expire at or before until, have not been
	// claimed (ExpiryWarnedAt nil) and whose owner has a verified email
	// address. Each key is claimed by the one UPDATE that sets its
	// ExpiryWarnedAt to now only while it is still nil, so of concurrent
	// callers (several instances) exactly one gets any key.
	ClaimExpiringAPIKeys(ctx context.Context, now, until time.Time, limit int) ([]ExpiringKey, error)
	// ReleaseExpiryWarning undoes a claim (ExpiryWarnedAt back to nil),
	// for a mail that could not be sent, so a later pass tries again.
	ReleaseExpiryWarning(ctx context.Context, keyID string) error
}

// KeyParent selects keys by their lineage: the fields set must all match
// (KeyID against ParentKeyID, GrantID against ParentGrantID, ClientID
// against ParentClientID, UserID against the owner).
type KeyParent struct {
	KeyID    string
	GrantID  string
	ClientID string
	UserID   string
}

// CreateAPIKey implements APIKeys.
func (d *DB) CreateAPIKey(ctx context.Context, k *APIKey) error {
	now := d.now().UTC()
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.UpdatedAt = now
	k.ExpiresAt = utcPtr(k.ExpiresAt)
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.holdOwner(ctx, k); err != nil {
			return err
		}
		return translate(d.w(ctx).Create(k).Error)
	})
}

// holdOwner checks, inside ctx's transaction, that what will own k
// exists and holds it until the transaction ends: the tenant of a
// workspace key (whose UserID must be the tenant id), else the user, and
// the organization of an organization key.
func (d *DB) holdOwner(ctx context.Context, k *APIKey) error {
	if k.OrgID != "" {
		if err := d.holdOrg(ctx, k.OrgID); err != nil {
			return err
		}
	}
	if k.TenantID == "" {
		return d.holdUser(ctx, k.UserID)
	}
	if k.UserID != k.TenantID || k.OrgID == "" {
		return fmt.Errorf("workspace key %q: owner %q must be its tenant %q of an organization: %w", k.ID, k.UserID, k.TenantID, ErrNotFound)
	}
	_, err := d.GetTenant(ctx, k.OrgID, k.TenantID)
	return err
}

// GetAPIKeyByDigest implements APIKeys.
func (d *DB) GetAPIKeyByDigest(ctx context.Context, digest []byte) (*APIKey, error) {
	var k APIKey
	if err := d.r(ctx).Where("digest = ?", digest).Take(&k).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// GetAPIKey implements APIKeys.
func (d *DB) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	var k APIKey
	if err := d.r(ctx).Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// LockAPIKey implements APIKeys.
func (d *DB) LockAPIKey(ctx context.Context, id string) (*APIKey, error) {
	var k APIKey
	w := d.w(ctx)
	if err := w.Clauses(lockForUpdate(w)...).Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// GetAPIKeyByHandle implements APIKeys.
func (d *DB) GetAPIKeyByHandle(ctx context.Context, userID, handle string) (*APIKey, error) {
	var k APIKey
	if err := d.r(ctx).Where("user_id = ? AND handle = ?", userID, handle).Take(&k).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// ListAPIKeys implements APIKeys.
func (d *DB) ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	var ks []APIKey
	err := d.r(ctx).Where("user_id = ?", userID).Order("created_at DESC, id").Find(&ks).Error
	return ks, translate(err)
}

// UpdateAPIKey implements APIKeys. The change is published (see
// WithPublisher) so every instance's verification cache drops the key.
func (d *DB) UpdateAPIKey(ctx context.Context, id string, fn func(*APIKey) error) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		var k APIKey
		if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("id = ?", id).Take(&k).Error; err != nil {
			return translate(err)
		}
		digest := hex.EncodeToString(k.Digest)
		if err := fn(&k); err != nil {
			return err
		}
		k.ID = id
		k.UpdatedAt = d.now().UTC()
		k.ExpiresAt = utcPtr(k.ExpiresAt)
		k.RevokedAt = utcPtr(k.RevokedAt)
		k.ExpiryWarnedAt = utcPtr(k.ExpiryWarnedAt)
		if err := d.w(ctx).Save(&k).Error; err != nil {
			return translate(err)
		}
		return d.changed(ctx, Invalidation{Topic: TopicAPIKey, ID: digest})
	})
}

// DeleteAPIKeys implements APIKeys.
func (d *DB) DeleteAPIKeys(ctx context.Context, userID string, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int64
	err := d.InTx(ctx, func(ctx context.Context) error {
		var ks []APIKey
		w := d.w(ctx)
		if err := w.Clauses(lockForUpdate(w)...).Where("user_id = ? AND id IN ? AND revoked_at IS NOT NULL", userID, ids).Find(&ks).Error; err != nil {
			return translate(err)
		}
		for _, k := range ks {
			res := d.w(ctx).Where("id = ? AND revoked_at IS NOT NULL", k.ID).Delete(&APIKey{})
			if res.Error != nil {
				return translate(res.Error)
			}
			n += res.RowsAffected
			if err := d.changed(ctx, Invalidation{Topic: TopicAPIKey, ID: hex.EncodeToString(k.Digest)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RecordKeyUsage implements APIKeys: one UPDATE per key in one transaction.
func (d *DB) RecordKeyUsage(ctx context.Context, usage []KeyUsage) error {
	if len(usage) == 0 {
		return nil
	}
	return d.InTx(ctx, func(ctx context.Context) error { return d.recordKeyUsage(ctx, usage) })
}

// recordKeyUsage runs RecordKeyUsage's updates in the caller's transaction.
func (d *DB) recordKeyUsage(ctx context.Context, usage []KeyUsage) error {
	// Rows are locked in key-id order, the same in every flush, so
	// concurrent flushes cannot deadlock.
	usage = slices.Clone(usage)
	slices.SortFunc(usage, func(a, b KeyUsage) int { return cmp.Compare(a.KeyID, b.KeyID) })
	for _, u := range usage {
		t := u.LastUsed.UTC()
		err := d.w(ctx).Exec(
			"UPDATE api_keys SET usage_count = usage_count + ?, last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END WHERE id = ?",
			u.Count, t, t, u.KeyID).Error
		if err != nil {
			return translate(err)
		}
	}
	return nil
}

// AddKeyEvent implements APIKeys.
func (d *DB) AddKeyEvent(ctx context.Context, e *KeyEvent) error {
	if e.At.IsZero() {
		e.At = d.now()
	}
	e.At = e.At.UTC()
	return translate(d.w(ctx).Create(e).Error)
}

// ListKeyEvents implements APIKeys.
func (d *DB) ListKeyEvents(ctx context.Context, keyID string, limit int) ([]KeyEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var es []KeyEvent
	err := d.r(ctx).Where("key_id = ?", keyID).Order("at DESC, id DESC").Limit(limit).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("key events: %w", translate(err))
	}
	return es, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// PurgeKeyEvents implements APIKeys: one indexed select of ids (on at) and
// one delete by primary key, so the table is never locked for long.
func (d *DB) PurgeKeyEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = 500
	}
	var ids []uint64
	if err := d.r(ctx).Model(&KeyEvent{}).Where("at < ?", before.UTC()).Order("at").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("purge key events: %w", translate(err))
	}
	if len(ids) == 0 {
		return 0, nil
	}
	res := d.w(ctx).Where("id IN ?", ids).Delete(&KeyEvent{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge key events: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// ListAPIKeyChildren implements APIKeys.
func (d *DB) ListAPIKeyChildren(ctx context.Context, parentKeyID string) ([]APIKey, error) {
	var ks []APIKey
	err := d.r(ctx).Where("parent_key_id = ? AND revoked_at IS NULL", parentKeyID).Order("created_at, id").Find(&ks).Error
	if err != nil {
		return nil, fmt.Errorf("key children: %w", translate(err))
	}
	return ks, nil
}

// revokeBatch bounds the ids of one IN list of RevokeAPIKeysByParent.
const revokeBatch = 500

// RevokeAPIKeysByParent implements APIKeys: breadth first, one UPDATE and
// one token DELETE per level (in batches), so a deep or wide lineage costs
// a few statements, never one per key.
func (d *DB) RevokeAPIKeysByParent(ctx context.Context, p KeyParent) ([]APIKey, error) {
	if p.KeyID == "" && p.GrantID == "" && p.ClientID == "" {
		return nil, nil
	}
	var out []APIKey
	err := d.InTx(ctx, func(ctx context.Context) error {
		out = nil
		q := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("revoked_at IS NULL")
		if p.KeyID != "" {
			q = q.Where("parent_key_id = ?", p.KeyID)
		}
		if p.GrantID != "" {
			q = q.Where("parent_grant_id = ?", p.GrantID)
		}
		if p.ClientID != "" {
			q = q.Where("parent_client_id = ?", p.ClientID)
		}
		if p.UserID != "" {
			q = q.Where("user_id = ?", p.UserID)
		}
		var level []APIKey
		if err := q.Order("id").Find(&level).Error; err != nil {
			return translate(err)
		}
		var err error
		out, err = d.revokeKeyLevels(ctx, level)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke keys by parent: %w", err)
	}
	return out, nil
}

// revokeKeyLevels revokes the keys of level and, breadth first, every key
// descending from them (by ParentKeyID) inside ctx's transaction: one
// UPDATE and one token DELETE per level (in batches), an invalidation for
// each key. It returns the keys it revoked.
func (d *DB) revokeKeyLevels(ctx context.Context, level []APIKey) ([]APIKey, error) {
	var out []APIKey
	now := d.now().UTC()
	for len(level) > 0 {
		var next []APIKey
		for start := 0; start < len(level); start += revokeBatch {
			batch := level[start:min(start+revokeBatch, len(level))]
			ids := make([]string, len(batch))
			for i := range batch {
				ids[i] = batch[i].ID
			}
			if err := d.w(ctx).Model(&APIKey{}).Where("id IN ? AND revoked_at IS NULL", ids).
				Updates(map[string]any{"revoked_at": now, "updated_at": now}).Error; err != nil {
				return nil, translate(err)
			}
			res := d.w(ctx).Where("kind = ? AND request_id IN ?", KindAccess, ids).Delete(&Request{})
			if res.Error != nil {
				return nil, translate(res.Error)
			}
			if err := d.accessTokensGone(ctx, KindAccess, res.RowsAffected, TokenAll); err != nil {
				return nil, err
			}
			for i := range batch {
				k := batch[i]
				k.RevokedAt, k.UpdatedAt = &now, now
				out = append(out, k)
				if err := d.changed(ctx, Invalidation{Topic: TopicAPIKey, ID: hex.EncodeToString(k.Digest)}); err != nil {
					return nil, err
				}
			}
			var children []APIKey
			if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).
				Where("parent_key_id IN ? AND revoked_at IS NULL", ids).Order("id").Find(&children).Error; err != nil {
				return nil, translate(err)
			}
			next = append(next, children...)
		}
		level = next
	}
	return out, nil
}
