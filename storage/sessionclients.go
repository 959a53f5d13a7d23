package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// SessionClient records that a browser sign-in session issued an
// authorization code (and so, for openid requests, an ID token) to a
// client: the clients OpenID Connect Back-Channel Logout 1.0 §2.7 must
// tell when that session ends. SID is the session's opaque id, the sid
// claim of its ID tokens.
type SessionClient struct {
	SID       string    `gorm:"column:sid;primaryKey;size:64"`
	ClientID  string    `gorm:"primaryKey;size:64"`
	UserID    string    `gorm:"size:64;not null;index"`
	CreatedAt time.Time `gorm:"not null"`
}

// SessionClients stores which clients each sign-in session reached.
type SessionClients interface {
	// AddSessionClient records (SID, ClientID) for UserID; recording a
	// pair again keeps the first record.
	AddSessionClient(ctx context.Context, sc *SessionClient) error
	// TakeSessionClients removes and returns, in one transaction, the
	// records of userID: of every session, or only those naming clientID
	// when clientID is not "". Two concurrent calls never return the same
	// record. None is not an error.
	TakeSessionClients(ctx context.Context, userID, clientID string) ([]SessionClient, error)
	// TakeSessionClientsBySID removes and returns, in one transaction, the
	// records of userID's one sign-in session sid (signed out from the
	// session list), like TakeSessionClients. None is not an error.
	TakeSessionClientsBySID(ctx context.Context, userID, sid string) ([]SessionClient, error)
	// SessionKnown reports whether any record of sign-in session sid of
	// userID is stored (none taken yet) — one naming clientID when
	// clientID is not "".
	SessionKnown(ctx context.Context, userID, sid, clientID string) (bool, error)
	// PurgeSessionClients deletes at most limit records created before
	// before (the janitor passes now minus the longest a sign-in session
	// can live, so no deleted record belongs to a session that can still
	// sign out) and reports how many it removed.
	PurgeSessionClients(ctx context.Context, before time.Time, limit int) (int64, error)
}

// AddSessionClient implements SessionClients.
func (d *DB) AddSessionClient(ctx context.Context, sc *SessionClient) error {
	if sc.CreatedAt.IsZero() {
		sc.CreatedAt = d.now()
	}
	sc.CreatedAt = sc.CreatedAt.UTC()
	// A session reaches the same client again and again (every sign-in
	// to the app in the session): a read answers that without taking the
	// writer. Outside a transaction only — inside one the writer is held.
	if tx(ctx) == nil {
		var n int64
		if err := d.r(ctx).Model(&SessionClient{}).Where("sid = ? AND client_id = ?", sc.SID, sc.ClientID).Limit(1).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n > 0 {
			return nil
		}
	}
	return translate(d.w(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(sc).Error)
}

// TakeSessionClients implements SessionClients.
func (d *DB) TakeSessionClients(ctx context.Context, userID, clientID string) ([]SessionClient, error) {
	return d.takeSessionClients(ctx, userID, "client_id", clientID)
}

// TakeSessionClientsBySID implements SessionClients.
func (d *DB) TakeSessionClientsBySID(ctx context.Context, userID, sid string) ([]SessionClient, error) {
	if sid == "" {
		return nil, nil
	}
	return d.takeSessionClients(ctx, userID, "sid", sid)
}

// takeSessionClients takes userID's records, only those whose column
// equals value when value is not "".
func (d *DB) takeSessionClients(ctx context.Context, userID, column, value string) ([]SessionClient, error) {
	var out []SessionClient
	err := d.InTx(ctx, func(ctx context.Context) error {
		q := d.w(ctx).Where("user_id = ?", userID)
		if value != "" {
			q = q.Where(column+" = ?", value)
		}
		// DELETE … RETURNING is not portable across our GORM dialect
		// versions; the writer transaction (SQLite's single writer,
		// PostgreSQL's row locks) makes read-then-delete exclusive.
		if err := q.Clauses(lockForUpdate(d.w(ctx))...).Order("created_at, sid, client_id").Find(&out).Error; err != nil {
			return translate(err)
		}
		for _, sc := range out {
			if err := d.w(ctx).Where("sid = ? AND client_id = ?", sc.SID, sc.ClientID).Delete(&SessionClient{}).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SessionKnown implements SessionClients.
func (d *DB) SessionKnown(ctx context.Context, userID, sid, clientID string) (bool, error) {
	var n int64
	q := d.r(ctx).Model(&SessionClient{}).Where("user_id = ? AND sid = ?", userID, sid)
	if clientID != "" {
		q = q.Where("client_id = ?", clientID)
	}
	err := q.Limit(1).Count(&n).Error
	return n > 0, translate(err)
}

// PurgeSessionClients implements SessionClients. It picks the oldest
// sessions first and deletes their records created before before, so one
// call stays within about limit rows.
func (d *DB) PurgeSessionClients(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = 500
	}
	before = before.UTC()
	var sids []string
	if err := d.r(ctx).Model(&SessionClient{}).Where("created_at < ?", before).
		Order("created_at").Limit(limit).Pluck("sid", &sids).Error; err != nil {
		return 0, fmt.Errorf("purge session clients: %w", translate(err))
	}
	if len(sids) == 0 {
		return 0, nil
	}
	res := d.w(ctx).Where("sid IN ? AND created_at < ?", sids, before).Delete(&SessionClient{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge session clients: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}
