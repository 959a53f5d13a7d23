// Package twofactor owns Latchkey's second factors: TOTP authenticators
// (RFC 6238, through github.com/pquerna/otp) with their single-use
// recovery codes, and the rules that decide whether an account signs in
// with two factors. Secrets are sealed with AES-GCM (secret.Seal) and
// recovery codes kept as HMAC-SHA256 digests under the server pepper; a
// TOTP code is accepted once (the last used time step is stored, RFC 6238
// §5.2), within one step of clock drift either way. Pages and the API
// reach it through narrow interfaces; the passkey ceremonies live beside
// it in passkey.go.
package twofactor

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// Errors a caller tells apart with errors.Is.
var (
	// ErrBadCode means the code is not a current code of the user's
	// authenticator nor one of their unused recovery codes.
	ErrBadCode = errors.New("twofactor: the code is not right")
	// ErrCodeUsed means a TOTP code was right but its time step was
	// already used: a replay, or the same code typed twice.
	ErrCodeUsed = errors.New("twofactor: the code was already used")
	// ErrNoEnrolment means there is no TOTP enrolment to confirm.
	ErrNoEnrolment = errors.New("twofactor: no authenticator enrolment in progress")
	// ErrAlreadyOn means the user already has a confirmed authenticator.
	ErrAlreadyOn = errors.New("twofactor: an authenticator is already on")
)

// Store is the part of storage the service uses.
type Store interface {
	PutTOTP(ctx context.Context, f *storage.TOTPFactor) error
	GetTOTP(ctx context.Context, userID string) (*storage.TOTPFactor, error)
	ConfirmTOTP(ctx context.Context, userID string, step int64, codes []storage.RecoveryCode) error
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	DeleteTOTP(ctx context.Context, userID string) error
	RecoveryCodes(ctx context.Context, userID string) ([]storage.RecoveryCode, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes []storage.RecoveryCode) error
	UseRecoveryCode(ctx context.Context, userID, digest string, at time.Time) error
	CreatePasskey(ctx context.Context, p *storage.Passkey) error
	ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
	UpdatePasskeyUse(ctx context.Context, id string, credential []byte, at time.Time) error
	DeletePasskey(ctx context.Context, userID, id string) error
}

// Config configures the service.
type Config struct {
	// Issuer names the service in authenticator apps (the otpauth URI's
	// issuer, e.g. the issuer URL's host).
	Issuer string
	// Sealer encrypts TOTP secrets at rest (secret.DeriveAEAD).
	Sealer cipher.AEAD
	// Hasher digests recovery codes under the server pepper.
	Hasher *secret.Hasher
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service enrols, verifies and removes second factors.
type Service struct {
	cfg   Config
	store Store
}

// New returns the service.
func New(cfg Config, store Store) (*Service, error) {
	if cfg.Sealer == nil || cfg.Hasher == nil {
		return nil, errors.New("twofactor: Sealer and Hasher are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Latchkey"
	}
	return &Service{cfg: cfg, store: store}, nil
}

// Status is what the account page shows of a user's second factors.
type Status struct {
	// TOTP is set when an authenticator is confirmed; Pending while an
	// enrolment waits for its first code.
	TOTP, Pending bool
	// RecoveryLeft counts the unused recovery codes.
	RecoveryLeft int
	// Passkeys are the registered passkeys, oldest first.
	Passkeys []storage.Passkey
}

// Enabled reports whether a password sign-in of the user needs a second
// step: a confirmed authenticator or a registered passkey.
func (st Status) Enabled() bool { return st.TOTP || len(st.Passkeys) > 0 }

// Status returns the user's second factors.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	var st Status
	f, err := s.store.GetTOTP(ctx, userID)
	switch {
	case err == nil:
		st.TOTP, st.Pending = f.ConfirmedAt != nil, f.ConfirmedAt == nil
	case !errors.Is(err, storage.ErrNotFound):
		return st, err
	}
	codes, err := s.store.RecoveryCodes(ctx, userID)
	if err != nil {
		return st, err
	}
	st.RecoveryLeft = len(codes)
	if st.Passkeys, err = s.store.ListPasskeys(ctx, userID); err != nil {
		return st, err
	}
	return st, nil
}

// Enabled reports whether the user signs in with two factors
// (Status.Enabled). Every password sign-in asks, so it reads no more than
// the answer needs: a confirmed authenticator decides alone, passkeys are
// read only without one, and recovery codes, which never decide it, not
// at all.
func (s *Service) Enabled(ctx context.Context, userID string) (bool, error) {
	var st Status
	f, err := s.store.GetTOTP(ctx, userID)
	switch {
	case err == nil:
		st.TOTP = f.ConfirmedAt != nil
	case !errors.Is(err, storage.ErrNotFound):
		return false, fmt.Errorf("twofactor: status: %w", err)
	}
	if st.Enabled() {
		return true, nil
	}
	if st.Passkeys, err = s.store.ListPasskeys(ctx, userID); err != nil {
		return false, fmt.Errorf("twofactor: status: %w", err)
	}
	return st.Enabled(), nil
}
