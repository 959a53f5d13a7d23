// Package accounts is the one home of the rules for creating a user: the
// username pattern, the password policy (length, not the username, not a
// common password), the email check, argon2id hashing and the storage
// call. Sign-up (web), the CLI's `user create` and any future admin API
// all create users through it, so none accepts a user another refuses.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Sentinel errors of Create; check them with errors.Is.
var (
	// ErrInvalid means a field broke a rule; the error is a FieldErrors
	// naming each field and why.
	ErrInvalid = errors.New("accounts: invalid user")
	// ErrUsernameTaken means another user has the username (it wraps
	// storage.ErrConflict too).
	ErrUsernameTaken = errors.New("accounts: username taken")
	// ErrBusy means the caller's context ended while waiting for the
	// password gate (it wraps the context's error too).
	ErrBusy = errors.New("accounts: password hashing busy")
)

// Field names used in FieldError.Field.
const (
	FieldUsername = "username"
	FieldEmail    = "email"
	FieldName     = "name"
	FieldPassword = "password"
)

// FieldError is one refused field and a sentence saying why, written for
// the person who typed it. It matches ErrInvalid.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// FieldErrors is every refused field of one request; it matches ErrInvalid
// and, through errors.As, each *FieldError.
type FieldErrors []*FieldError

// Error implements error.
func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Error()
	}
	return "accounts: " + strings.Join(parts, "; ")
}

// Unwrap returns the field errors (each of which wraps ErrInvalid).
func (e FieldErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, f := range e {
		out[i] = f
	}
	return out
}

// Message returns the message for field, or "" when the field is fine.
func (e FieldErrors) Message(field string) string {
	for _, f := range e {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

// NewUser is a request to create a user.
type NewUser struct {
	Username string
	Email    string
	Name     string // display name, optional
	Password string
	Admin    bool
	// EmailRequired refuses an empty Email: a person signing themselves up
	// must give one; an operator (CLI) may create a user without.
	EmailRequired bool
}

// Store is the storage accounts writes to.
type Store interface {
	// CreateUser inserts u; storage.ErrConflict when the username is taken.
	CreateUser(ctx context.Context, u *storage.User) error
}

// Config holds a Service's optional collaborators.
type Config struct {
	// Gate bounds concurrent argon2id runs; nil does not limit.
	Gate *secret.PasswordGate
	// Now stamps CreatedAt; nil leaves it to the store's clock.
	Now func() time.Time
}

// Service creates users.
type Service struct {
	store Store
	cfg   Config
}

// New returns a Service writing to store.
func New(store Store, cfg Config) *Service {
	return &Service{store: store, cfg: cfg}
}

// Create validates u (Validate), hashes the password with argon2id inside
// the password gate and stores the user. Errors: a FieldErrors matching
// ErrInvalid, ErrUsernameTaken, ErrBusy, or the hash or store failure.
func (s *Service) Create(ctx context.Context, u NewUser) (*storage.User, error) {
	if err := Validate(u); err != nil {
		return nil, err
	}
	release, err := s.cfg.Gate.Enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	hash, err := secret.HashPassword(u.Password)
	release()
	if err != nil {
		return nil, fmt.Errorf("accounts: hash password: %w", err)
	}
	rec := &storage.User{ID: uuid.NewString(), Username: u.Username, Email: u.Email, Name: u.Name, PasswordHash: hash, Admin: u.Admin}
	if s.cfg.Now != nil {
		rec.CreatedAt = s.cfg.Now()
	}
	if err := s.store.CreateUser(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, fmt.Errorf("%w: %q: %w", ErrUsernameTaken, u.Username, err)
		}
		return nil, err
	}
	return rec, nil
}
