package storage

import (
	"context"
	"fmt"
	"strings"
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
	// EmailVerifiedAt is when the person proved they read mail at Email
	// (they followed a verification or reset link sent there); nil = not
	// verified. Changing Email clears it (UpdateProfile).
	EmailVerifiedAt *time.Time
	// SuspendedAt is when an instance administrator suspended the user
	// (nil = not suspended): sign-in, sessions, keys and tokens of theirs
	// are refused while it is set (SetUserSuspended).
	SuspendedAt *time.Time
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null"`
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
	// UpdateProfile sets the user's display name and email address and
	// returns the updated user; when the address changes (other than in
	// letter case) EmailVerifiedAt is cleared in the same write.
	// ErrNotFound when the user does not exist.
	UpdateProfile(ctx context.Context, userID, name, email string) (*User, error)
	// SetPassword replaces the password hash, ends every browser session
	// that signed in before sessionsNotBefore and deletes the user's unused
	// password-reset tokens, in one transaction. ErrNotFound when the user
	// does not exist.
	SetPassword(ctx context.Context, userID, hash string, sessionsNotBefore time.Time) error
	// UpgradePasswordHash replaces the user's password hash oldHash by
	// newHash — the same password hashed with stronger or newer parameters
	// after a successful login — and nothing else: sessions and reset links
	// stay. It is a compare-and-swap: ErrConflict when the stored hash is no
	// longer oldHash (the password changed meanwhile, which must win);
	// ErrNotFound when the user does not exist.
	UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
	// VerifyEmail marks the user's address verified at at, provided it is
	// still email (ignoring case). ErrNotFound when the user does not
	// exist; ErrConflict when the address has changed since.
	VerifyEmail(ctx context.Context, userID, email string, at time.Time) error
	// FindUsersByEmail returns the users whose address equals email,
	// ignoring case, oldest first; none is an empty slice, not an error.
	FindUsersByEmail(ctx context.Context, email string) ([]User, error)
	// DeleteUser removes the user and everything that is theirs (keys,
	// grants, owned clients, sessions, mailed links) and makes their key
	// audit log anonymous, in one transaction that locks the user row;
	// the username is free afterwards. See DB.DeleteUser for the details.
	// ErrNotFound when the user does not exist.
	DeleteUser(ctx context.Context, userID string) (*UserDeletion, error)
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

// updateUser applies fields to the user with id inside ctx's transaction
// (the caller's InTx) and publishes the change; ErrNotFound when no row
// matched.
func (d *DB) updateUser(ctx context.Context, id string, fields map[string]any) error {
	fields["updated_at"] = d.now().UTC()
	res := d.w(ctx).Model(&User{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return d.changed(ctx, Invalidation{Topic: TopicUser, ID: id})
}

// UpdateProfile implements Users.
func (d *DB) UpdateProfile(ctx context.Context, userID, name, email string) (*User, error) {
	var out User
	err := d.InTx(ctx, func(ctx context.Context) error {
		var u User
		if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("id = ?", userID).Take(&u).Error; err != nil {
			return fmt.Errorf("user %q: %w", userID, translate(err))
		}
		fields := map[string]any{"name": name, "email": email}
		if !strings.EqualFold(u.Email, email) {
			fields["email_verified_at"] = nil
			u.EmailVerifiedAt = nil
		}
		if err := d.updateUser(ctx, userID, fields); err != nil {
			return err
		}
		u.Name, u.Email, u.UpdatedAt = name, email, fields["updated_at"].(time.Time)
		out = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetPassword implements Users.
func (d *DB) SetPassword(ctx context.Context, userID, hash string, sessionsNotBefore time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		if err := d.updateUser(ctx, userID, map[string]any{"password_hash": hash, "sessions_not_before": sessionsNotBefore.UTC()}); err != nil {
			return err
		}
		return translate(d.w(ctx).Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, PurposeReset).Delete(&EmailToken{}).Error)
	})
}

// UpgradePasswordHash implements Users: one conditional UPDATE, so a
// password change between the check and the upgrade is never undone.
func (d *DB) UpgradePasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	res := d.w(ctx).Model(&User{}).Where("id = ? AND password_hash = ?", userID, oldHash).
		Updates(map[string]any{"password_hash": newHash, "updated_at": d.now().UTC()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := d.GetUser(ctx, userID); err != nil {
			return err
		}
		return fmt.Errorf("user %q: password changed since it was checked: %w", userID, ErrConflict)
	}
	return d.changed(ctx, Invalidation{Topic: TopicUser, ID: userID})
}

// VerifyEmail implements Users.
func (d *DB) VerifyEmail(ctx context.Context, userID, email string, at time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		var u User
		if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("id = ?", userID).Take(&u).Error; err != nil {
			return fmt.Errorf("user %q: %w", userID, translate(err))
		}
		if !strings.EqualFold(u.Email, email) || email == "" {
			return fmt.Errorf("user %q: address changed since the link was sent: %w", userID, ErrConflict)
		}
		return d.updateUser(ctx, userID, map[string]any{"email_verified_at": at.UTC()})
	})
}

// FindUsersByEmail implements Users.
func (d *DB) FindUsersByEmail(ctx context.Context, email string) ([]User, error) {
	out := []User{}
	if email == "" {
		return out, nil
	}
	err := d.r(ctx).Where("lower(email) = ?", strings.ToLower(email)).Order("created_at, id").Limit(20).Find(&out).Error
	return out, translate(err)
}
