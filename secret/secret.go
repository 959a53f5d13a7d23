// Package secret generates high-entropy secrets and digests them with
// HMAC-SHA256 under a versioned server pepper. Machine-generated secrets
// (client secrets, API keys) have ≥ 256 bits of entropy, so a slow KDF adds
// cost without adding safety; the pepper lives outside the database, so a
// leaked table alone cannot be used to test guesses.
package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
)

// ErrMismatch means a presented secret does not match the stored digest.
var ErrMismatch = errors.New("secret: mismatch")

// ErrUnknownVersion means a digest was made under a pepper this server no longer has.
var ErrUnknownVersion = errors.New("secret: unknown pepper version")

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Random returns a base62 string carrying at least bits bits from crypto/rand.
func Random(bits int) (string, error) {
	// Each base62 character carries log2(62) ≈ 5.954 bits.
	n := (bits*1000 + 5953) / 5954
	max := big.NewInt(62)
	out := make([]byte, n)
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("secret: random: %w", err)
		}
		out[i] = base62[v.Int64()]
	}
	return string(out), nil
}

// Hasher digests secrets with HMAC-SHA256 under the current pepper and
// verifies digests made under any pepper it still holds.
type Hasher struct {
	peppers map[int][]byte
	current int
}

// NewHasher returns a Hasher whose current pepper is version current.
// peppers maps every version still accepted to its key.
func NewHasher(current int, peppers map[int][]byte) (*Hasher, error) {
	if _, ok := peppers[current]; !ok {
		return nil, fmt.Errorf("secret: current pepper version %d: %w", current, ErrUnknownVersion)
	}
	cp := make(map[int][]byte, len(peppers))
	for v, k := range peppers {
		if len(k) < 32 {
			return nil, fmt.Errorf("secret: pepper version %d is shorter than 32 bytes", v)
		}
		cp[v] = append([]byte(nil), k...)
	}
	return &Hasher{peppers: cp, current: current}, nil
}

// Current is the pepper version new digests are made with.
func (h *Hasher) Current() int { return h.current }

// Digest returns HMAC-SHA256(pepper[current], secret) and the version used.
func (h *Hasher) Digest(secret []byte) ([]byte, int) {
	return mac(h.peppers[h.current], secret), h.current
}

// DigestVersion returns the digest of secret under pepper version v.
func (h *Hasher) DigestVersion(secret []byte, v int) ([]byte, error) {
	k, ok := h.peppers[v]
	if !ok {
		return nil, ErrUnknownVersion
	}
	return mac(k, secret), nil
}

// Verify compares secret against digest made under version v in constant time.
func (h *Hasher) Verify(secret, digest []byte, v int) error {
	want, err := h.DigestVersion(secret, v)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, digest) {
		return ErrMismatch
	}
	return nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
