package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (RFC 9106 §4, second recommended option, scaled for
// an interactive login on a small server): 64 MiB, 1 pass, 2 lanes.
const (
	argonTime    = 1
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// ErrPasswordMismatch means the password does not match the stored hash.
var ErrPasswordMismatch = errors.New("secret: password mismatch")

// HashPassword returns an argon2id hash of password in PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secret: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against a hash made by HashPassword, in
// constant time, honouring the parameters recorded in the hash.
func VerifyPassword(hash, password string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("secret: unsupported password hash")
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 16 {
		return errors.New("secret: malformed password hash")
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return errors.New("secret: malformed password hash")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// dummyHash is an argon2id hash, with the same parameters as HashPassword,
// of a value that is no one's password. It is a constant so that start-up
// pays no 64 MiB hash to make it.
const dummyHash = "$argon2id$v=19$m=65536,t=1,p=2$SKgzwK2ldJlfR7IxpXve4Q$8fYxg/ZnmyDtJ3lAujpOMnzJ48CD0r30Kl/sAK66akI"

// VerifyNoUser spends the time and memory of one password check and fails:
// call it when the username is unknown, so that a missing user answers as
// slowly as a wrong password and usernames cannot be found by timing.
func VerifyNoUser(password string) error {
	_ = VerifyPassword(dummyHash, password)
	return ErrPasswordMismatch
}
