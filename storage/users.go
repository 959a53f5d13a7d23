package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/internal/ttlcache"
)

// User is a person who can sign in.
type User struct {
	ID           string `gorm:"primaryKey;size:64"`
	Username     string `gorm:"uniqueIndex;size:64;not null"`
	Email        string `gorm:"size:254"`
	Name         string `gorm:"size:200"`
	PasswordHash string `gorm:"not null"`
	Admin        bool   `gorm:"not null;default:false"`
	// SessionsNotBefore ends every browser session that signed in before it
	// (set by logout, so a copied cookie stops working on every instance).
	SessionsNotBefore *time.Time
	CreatedAt         time.Time `gorm:"not null"`
	UpdatedAt         time.Time `gorm:"not null"`
}

// Workspace is a tenant a user belongs to (SPEC §3.3 "tenants").
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// PersonalWorkspace is every user's own workspace. Latchkey has one
// workspace per user today; shared workspaces are not modelled yet.
func PersonalWorkspace(u *User) Workspace {
	return Workspace{ID: u.ID, Name: u.Username + "'s workspace", Role: "owner"}
}

// Users stores people.
type Users interface {
	// CreateUser inserts u; ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns the user by exact username, or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// EndSessions makes every browser session of the user that signed in
	// before at invalid; ErrNotFound when the user does not exist.
	EndSessions(ctx context.Context, userID string, at time.Time) error
}

// CreateUser implements Users.
func (d *DB) CreateUser(ctx context.Context, u *User) error {
	now := d.now().UTC()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = u.CreatedAt.UTC() // SQLite compares times as text: store UTC only
	u.UpdatedAt = now
	return translate(d.w(ctx).Create(u).Error)
}

// GetUser implements Users.
func (d *DB) GetUser(ctx context.Context, id string) (*User, error) {
	inTx := tx(ctx) != nil
	var ticket ttlcache.Ticket
	if !inTx {
		u, ok, t := d.users.Get(id)
		if ok {
			return &u, nil
		}
		ticket = t
	}
	var u User
	if err := d.r(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	if !inTx {
		d.users.Put(id, u, ticket)
	}
	return &u, nil
}

// GetUserByUsername implements Users.
func (d *DB) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	if err := d.r(ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// EndSessions implements Users.
func (d *DB) EndSessions(ctx context.Context, userID string, at time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"sessions_not_before": at.UTC(), "updated_at": d.now().UTC()})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %q: %w", userID, ErrNotFound)
		}
		return d.changed(ctx, Invalidation{Topic: TopicUser, ID: userID})
	})
}
