package storage

import (
	"context"
	"fmt"
	"time"
)

// WebSession is one browser sign-in session, as the person's session list
// on /account shows it: the session's opaque id (the sid claim), who, when
// it began, from which browser and address, until when it can last, and
// when it was signed out from that list.
type WebSession struct {
	SID       string    `gorm:"column:sid;primaryKey;size:64"`
	UserID    string    `gorm:"size:64;not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	UserAgent string    `gorm:"size:200"`
	IP        string    `gorm:"column:ip;size:64"`
	// EndedAt is when the session was signed out from the list; nil while
	// it may be in use.
	EndedAt *time.Time
}

// WebSessions records browser sign-in sessions.
type WebSessions interface {
	// CreateWebSession records s; ErrConflict when the sid exists.
	CreateWebSession(ctx context.Context, s *WebSession) error
	// ListWebSessions returns the user's sessions that began at or after
	// since (the user's SessionsNotBefore, zero for none), are not ended
	// and not expired at now, newest first.
	ListWebSessions(ctx context.Context, userID string, since, now time.Time) ([]WebSession, error)
	// EndWebSession ends the user's session sid at at; ErrNotFound when
	// the user has no such session still open (another person's sid and
	// an already ended one included).
	EndWebSession(ctx context.Context, userID, sid string, at time.Time) error
	// WebSessionEnded reports whether the session sid was ended; a sid
	// with no record (a session from before records) is not.
	WebSessionEnded(ctx context.Context, sid string) (bool, error)
}

// CreateWebSession implements WebSessions.
func (d *DB) CreateWebSession(ctx context.Context, s *WebSession) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = d.now()
	}
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return translate(d.w(ctx).Create(s).Error)
}

// ListWebSessions implements WebSessions.
func (d *DB) ListWebSessions(ctx context.Context, userID string, since, now time.Time) ([]WebSession, error) {
	out := []WebSession{}
	err := d.r(ctx).Where("user_id = ? AND ended_at IS NULL AND created_at >= ? AND expires_at > ?", userID, since.UTC(), now.UTC()).
		Order("created_at DESC, sid").Limit(100).Find(&out).Error
	return out, translate(err)
}

// EndWebSession implements WebSessions.
func (d *DB) EndWebSession(ctx context.Context, userID, sid string, at time.Time) error {
	res := d.w(ctx).Model(&WebSession{}).Where("sid = ? AND user_id = ? AND ended_at IS NULL", sid, userID).Update("ended_at", at.UTC())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("session of %q: %w", userID, ErrNotFound)
	}
	return nil
}

// WebSessionEnded implements WebSessions.
func (d *DB) WebSessionEnded(ctx context.Context, sid string) (bool, error) {
	var n int64
	err := d.r(ctx).Model(&WebSession{}).Where("sid = ? AND ended_at IS NOT NULL", sid).Count(&n).Error
	return n > 0, translate(err)
}
