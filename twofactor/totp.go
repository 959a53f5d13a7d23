package twofactor

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// TOTP parameters (RFC 6238 §4 defaults, what every authenticator app
// supports): 30-second steps, six digits, HMAC-SHA1, a 160-bit secret.
const (
	period = 30
	digits = otp.DigitsSix
	// skew is how many steps either side of now a code is accepted for
	// (RFC 6238 §5.2 recommends at most one step of network delay).
	skew = 1
)

// SealLabel is the HKDF label the key sealing TOTP secrets is derived
// under (secret.DeriveAEAD), for the wiring.
const SealLabel = "latchkey totp secrets v1"

// Enrolment is what the person needs to add the authenticator: the secret
// (base32, to type in), the otpauth URI and that URI as a QR code (a PNG
// data: URL for an <img>).
type Enrolment struct {
	Secret string
	URL    string
	QR     string
}

// BeginTOTP starts (or restarts) an authenticator enrolment for the user,
// whose account name the app shows; ErrAlreadyOn when one is confirmed.
func (s *Service) BeginTOTP(ctx context.Context, userID, account string) (*Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.cfg.Issuer, AccountName: account, Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("twofactor: generate: %w", err)
	}
	sealed, err := s.seal(userID, key.Secret())
	if err != nil {
		return nil, err
	}
	if err := s.store.PutTOTP(ctx, &storage.TOTPFactor{UserID: userID, Sealed: sealed}); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return nil, ErrAlreadyOn
		}
		return nil, err
	}
	return enrolment(key)
}

// PendingTOTP shows the enrolment in progress again (a reloaded page);
// ErrNoEnrolment when there is none.
func (s *Service) PendingTOTP(ctx context.Context, userID, account string) (*Enrolment, error) {
	f, err := s.store.GetTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && f.ConfirmedAt != nil) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	sec, err := s.open(f)
	if err != nil {
		return nil, err
	}
	key, err := s.key(account, sec)
	if err != nil {
		return nil, err
	}
	return enrolment(key)
}

// key rebuilds the authenticator key of a stored base32 secret.
func (s *Service) key(account, sec string) (*otp.Key, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec)
	if err != nil {
		return nil, fmt.Errorf("twofactor: stored secret: %w", err)
	}
	return totp.Generate(totp.GenerateOpts{
		Issuer: s.cfg.Issuer, AccountName: account, Secret: raw, Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
	})
}

func enrolment(key *otp.Key) (*Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("twofactor: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &Enrolment{
		Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// ConfirmTOTP turns the enrolment on when code is current, and returns
// the user's new recovery codes (shown once; any earlier ones are gone).
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	f, err := s.store.GetTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && f.ConfirmedAt != nil) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	step, err := s.match(f, code)
	if err != nil {
		return nil, err
	}
	plain, recs, err := s.newCodes()
	if err != nil {
		return nil, err
	}
	if err := s.store.ConfirmTOTP(ctx, userID, step, recs); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNoEnrolment
		}
		return nil, err
	}
	return plain, nil
}

// VerifyTOTP accepts a current code of the user's confirmed authenticator
// once: ErrBadCode when it is not current, ErrCodeUsed when its step (or
// a later one) was already used.
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	f, err := s.store.GetTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && f.ConfirmedAt == nil) {
		return ErrBadCode
	}
	if err != nil {
		return err
	}
	step, err := s.match(f, code)
	if err != nil {
		return err
	}
	if step <= f.LastStep {
		return ErrCodeUsed
	}
	switch err := s.store.UseTOTPStep(ctx, userID, step); {
	case errors.Is(err, storage.ErrInactive):
		return ErrCodeUsed // a concurrent request took this step first
	case errors.Is(err, storage.ErrNotFound):
		return ErrBadCode
	default:
		return err
	}
}

// DisableTOTP removes the user's authenticator (confirmed or pending).
func (s *Service) DisableTOTP(ctx context.Context, userID string) error {
	if err := s.store.DeleteTOTP(ctx, userID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// match returns the time step code is the code of, within skew of now;
// ErrBadCode otherwise. Every candidate is compared in constant time.
func (s *Service) match(f *storage.TOTPFactor, code string) (int64, error) {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != digits.Length() {
		return 0, ErrBadCode
	}
	sec, err := s.open(f)
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now().Unix() / period
	found := int64(-1)
	for step := now - skew; step <= now+skew; step++ {
		want, err := totp.GenerateCodeCustom(sec, time.Unix(step*period, 0), totp.ValidateOpts{
			Period: period, Digits: digits, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, ErrBadCode
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found < 0 {
			found = step
		}
	}
	if found < 0 {
		return 0, ErrBadCode
	}
	return found, nil
}

// seal encrypts a TOTP secret bound to its user's id.
func (s *Service) seal(userID, sec string) ([]byte, error) {
	return secret.Seal(s.cfg.Sealer, []byte(sec), []byte("totp:"+userID))
}

// open decrypts a stored TOTP secret.
func (s *Service) open(f *storage.TOTPFactor) (string, error) {
	b, err := secret.Open(s.cfg.Sealer, f.Sealed, []byte("totp:"+f.UserID))
	if err != nil {
		return "", fmt.Errorf("twofactor: totp secret of %s: %w", f.UserID, err)
	}
	return string(b), nil
}
