package twofactor

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/latchkey/latchkey/storage"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// codeAlphabet spells recovery codes: lower-case RFC 4648 base32 (no 0, 1,
// 8 or 9 to confuse with letters). Ten characters carry 50 bits.
var codeAlphabet = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newCode returns one recovery code, "xxxxx-xxxxx".
func newCode() (string, error) {
	b := make([]byte, 7)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	c := codeAlphabet.EncodeToString(b)[:10]
	return c[:5] + "-" + c[5:], nil
}

// normalizeCode accepts a code as typed: any case, with or without the
// dash and spaces.
func normalizeCode(code string) string {
	code = strings.ToLower(code)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

// newCodes makes RecoveryCodeCount codes: the plain ones to show once and
// their records (digests) to store.
func (s *Service) newCodes() ([]string, []storage.RecoveryCode, error) {
	plain := make([]string, 0, RecoveryCodeCount)
	recs := make([]storage.RecoveryCode, 0, RecoveryCodeCount)
	for range RecoveryCodeCount {
		c, err := newCode()
		if err != nil {
			return nil, nil, err
		}
		d, v := s.cfg.Hasher.Digest([]byte(normalizeCode(c)))
		plain = append(plain, c)
		recs = append(recs, storage.RecoveryCode{Digest: hex.EncodeToString(d), PepperVersion: v})
	}
	return plain, recs, nil
}

// NewRecoveryCodes replaces the user's recovery codes with fresh ones and
// returns them (shown once).
func (s *Service) NewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	plain, recs, err := s.newCodes()
	if err != nil {
		return nil, err
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, recs); err != nil {
		return nil, err
	}
	return plain, nil
}

// UseRecoveryCode accepts one of the user's unused recovery codes once;
// ErrBadCode otherwise. Each unused code is compared under the pepper
// version it was made with, so codes outlive a pepper rotation.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) error {
	code = normalizeCode(code)
	if len(code) != 10 {
		return ErrBadCode
	}
	recs, err := s.store.RecoveryCodes(ctx, userID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		d, err := s.cfg.Hasher.DigestVersion([]byte(code), r.PepperVersion)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(d)), []byte(r.Digest)) != 1 {
			continue
		}
		err = s.store.UseRecoveryCode(ctx, userID, r.Digest, s.cfg.Now())
		if errors.Is(err, storage.ErrNotFound) {
			return ErrBadCode // used by a concurrent request
		}
		return err
	}
	return ErrBadCode
}

// Verify accepts either a current TOTP code (six digits) or an unused
// recovery code, once (both are one-time passwords, RFC 8176 "otp").
func (s *Service) Verify(ctx context.Context, userID, code string) error {
	c := strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(c) == digits.Length() && strings.Trim(c, "0123456789") == "" {
		return s.VerifyTOTP(ctx, userID, c)
	}
	return s.UseRecoveryCode(ctx, userID, code)
}
