package storage

import (
	"context"
	"fmt"
	"time"
)

// InstanceStats counts what an instance holds, by state, for the
// operator's overview.
type InstanceStats struct {
	Users, Admins          int64
	Clients, PublicClients int64
	// Keys by state at the time asked: working, past their expiry, revoked.
	KeysActive, KeysExpired, KeysRevoked int64
	// Tokens not yet purged: working (active, unexpired) access and
	// refresh tokens, and those revoked or rotated but not yet expired.
	AccessTokens, RefreshTokens, InactiveTokens int64
}

// Overview is what the operator's overview reads.
type Overview interface {
	// InstanceStats counts users, clients, keys and tokens by state at now.
	InstanceStats(ctx context.Context, now time.Time) (InstanceStats, error)
	// RecentKeyEvents returns the newest audit entries of any key whose
	// type is one of types, newest first, at most limit.
	RecentKeyEvents(ctx context.Context, types []string, limit int) ([]KeyEvent, error)
}

// InstanceStats implements Overview with one COUNT per figure (each on
// an index or a small table).
func (d *DB) InstanceStats(ctx context.Context, now time.Time) (InstanceStats, error) {
	now = now.UTC()
	var s InstanceStats
	db := d.r(ctx)
	counts := []struct {
		dst   *int64
		model any
		where string
		args  []any
	}{
		{&s.Users, &User{}, "", nil},
		{&s.Admins, &User{}, "admin = ?", []any{true}},
		{&s.Clients, &Client{}, "", nil},
		{&s.PublicClients, &Client{}, "public = ?", []any{true}},
		{&s.KeysRevoked, &APIKey{}, "revoked_at IS NOT NULL", nil},
		{&s.KeysExpired, &APIKey{}, "revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?", []any{now}},
		{&s.KeysActive, &APIKey{}, "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", []any{now}},
		{&s.AccessTokens, &Request{}, "kind = ? AND active = ? AND expires_at > ?", []any{KindAccess, true, now}},
		{&s.RefreshTokens, &Request{}, "kind = ? AND active = ? AND expires_at > ?", []any{KindRefresh, true, now}},
		{&s.InactiveTokens, &Request{}, "kind IN ? AND active = ? AND expires_at > ?", []any{[]Kind{KindAccess, KindRefresh}, false, now}},
	}
	for _, c := range counts {
		q := db.Model(c.model)
		if c.where != "" {
			q = q.Where(c.where, c.args...)
		}
		if err := q.Count(c.dst).Error; err != nil {
			return s, fmt.Errorf("instance stats: %w", translate(err))
		}
	}
	return s, nil
}

// RecentKeyEvents implements Overview (on the index of at).
func (d *DB) RecentKeyEvents(ctx context.Context, types []string, limit int) ([]KeyEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	var es []KeyEvent
	err := d.r(ctx).Where("type IN ?", types).Order("at DESC, id DESC").Limit(limit).Find(&es).Error
	if err != nil {
		return nil, fmt.Errorf("recent key events: %w", translate(err))
	}
	return es, nil
}
