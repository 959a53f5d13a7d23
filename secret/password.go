package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/secret/internal/argon2"
)

// Argon2id parameters for new hashes: the third of the OWASP Password
// Storage Cheat Sheet's five equivalent argon2id settings (m = 12 MiB,
// t = 3, p = 1), within RFC 9106 §4's guidance for memory-constrained
// settings (argon2id, 16-byte salt, 32-byte tag; lower the memory and raise
// the passes). A guess costs the same time as with OWASP's first setting
// (m = 19 MiB, t = 2: ~26 ms on one core here, BENCHMARKS.md "Password
// hashing") and 7 MiB less memory, which is what lets two checks at once
// fit a 128 MiB process. Hashes made earlier — m = 64 MiB, t = 1, p = 2
// before issue 16 (LegacyPasswordParams), m = 19 MiB, t = 2 during it —
// record their own parameters in their PHC strings, so they keep verifying
// and are replaced on the next successful check (PasswordGate.Check,
// NeedsRehash).
const (
	argonTime    = 3
	argonMemory  = 12 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// PasswordParams are argon2id's cost parameters (RFC 9106 §3.1): memory in
// KiB, passes, lanes.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// CurrentPasswordParams are the parameters HashPassword uses.
var CurrentPasswordParams = PasswordParams{MemoryKiB: argonMemory, Time: argonTime, Threads: argonThreads}

// LegacyPasswordParams are the parameters of hashes made before issue 16
// (64 MiB, 1 pass, 2 lanes); they verify and are upgraded on login.
var LegacyPasswordParams = PasswordParams{MemoryKiB: 64 * 1024, Time: 1, Threads: 2}

// ErrPasswordMismatch means the password does not match the stored hash.
var ErrPasswordMismatch = errors.New("secret: password mismatch")

// errMalformedHash is returned for a stored hash that cannot be parsed.
var errMalformedHash = errors.New("secret: malformed password hash")

// HashPassword returns an argon2id hash of password, with the current
// parameters, in PHC string format.
func HashPassword(password string) (string, error) {
	return hashPasswordWith(CurrentPasswordParams, password)
}

// hashPasswordWith hashes with p: the one place a PHC string is written
// (tests use it to make legacy hashes).
func hashPasswordWith(p PasswordParams, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	version   int
	params    PasswordParams
	salt, key []byte
}

// parseHash parses an argon2id PHC string, refusing parameters no hash of
// ours has (more than 4 GiB of memory, more than 16 passes).
func parseHash(hash string) (phc, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return phc{}, errors.New("secret: unsupported password hash")
	}
	var out phc
	if _, err := fmt.Sscanf(parts[2], "v=%d", &out.version); err != nil {
		return phc{}, errMalformedHash
	}
	p := &out.params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 || p.MemoryKiB > 1<<22 || p.Time > 16 {
		return phc{}, errMalformedHash
	}
	var err1, err2 error
	b64 := base64.RawStdEncoding
	out.salt, err1 = b64.DecodeString(parts[4])
	out.key, err2 = b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(out.key) == 0 {
		return phc{}, errMalformedHash
	}
	return out, nil
}

// VerifyPassword checks password against a hash made by HashPassword, in
// constant time, honouring the parameters recorded in the hash (so hashes
// made with older parameters keep verifying).
func VerifyPassword(hash, password string) error {
	h, err := parseHash(hash)
	if err != nil {
		return err
	}
	p := h.params
	got := argon2.IDKey([]byte(password), h.salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(h.key)))
	if subtle.ConstantTimeCompare(got, h.key) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// NeedsRehash reports whether hash, a well-formed argon2id hash, was made
// with anything other than what HashPassword uses today (parameters,
// version, salt or tag length): after a successful check it should be
// replaced by HashPassword's. A malformed hash reports false: it never
// verifies, so there is nothing to upgrade.
func NeedsRehash(hash string) bool {
	h, err := parseHash(hash)
	if err != nil {
		return false
	}
	return h.params != CurrentPasswordParams || h.version != argon2.Version ||
		len(h.salt) != argonSaltLen || len(h.key) != argonKeyLen
}

// hashMemoryKiB is the memory one check of hash takes, in KiB: its m
// parameter, or the current one when hash is malformed (its check fails
// before any argon2id run).
func hashMemoryKiB(hash string) int64 {
	h, err := parseHash(hash)
	if err != nil {
		return argonMemory
	}
	return int64(h.params.MemoryKiB)
}

// dummyHash is an argon2id hash, with the same parameters as HashPassword,
// of a random value that is no one's password. It is a constant so that
// start-up pays no hash to make it; TestVerifyNoUser keeps its parameters
// equal to HashPassword's.
const dummyHash = "$argon2id$v=19$m=12288,t=3,p=1$bwUFziH+yS6nbFxwezEwHw$nrolnUpMSjMnACooVWUy1mQAvNYhBYfqy4dq7+35P0I"

// VerifyNoUser spends the time and memory of one password check with the
// current parameters and fails: call it when the username is unknown, so
// that a missing user answers as slowly as a wrong password and usernames
// cannot be found by timing.
func VerifyNoUser(password string) error {
	_ = VerifyPassword(dummyHash, password)
	return ErrPasswordMismatch
}
