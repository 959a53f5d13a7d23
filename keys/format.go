// Package keys owns Latchkey's API keys: the key format, creation (an
// HMAC-SHA256 digest under the pepper, and a sealed copy when keys are
// recoverable), verification with an in-process cache, update, revocation
// and rotation with a grace period, each key's audit events, the authority
// a credential holds over keys (scopes, expiry, lineage), and the batching
// of usage records. It mints no OAuth tokens: api exchanges a key for one
// through oauth, and the token is then bound by the key as it is now
// (Current).
package keys

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/latchkey/latchkey/secret"
)

// Environments a key can belong to.
const (
	EnvLive = "live"
	EnvTest = "test"
)

// randomLen is the length of the random part: 43 base62 characters carry
// 43 × log2(62) ≈ 256 bits.
const randomLen = 43

// checksumLen is the length of the CRC32 checksum in base62 (62^6 > 2^32).
const checksumLen = 6

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Parse errors. All mean "not a key of this deployment" and are decided
// without any I/O.
var (
	ErrMalformed   = errors.New("keys: malformed key")
	ErrBadChecksum = errors.New("keys: checksum mismatch")
)

// Format builds and parses keys of the form
// <prefix>_<env>_<random>_<checksum> (SPEC §3.4): random is 256 bits from
// crypto/rand in base62; checksum is CRC32 (IEEE) of everything before the
// last underscore, in 6 base62 characters — GitHub's scheme, so a leaked
// key is cheap to recognise and garbage is refused before any lookup.
type Format struct {
	prefix string
}

// NewFormat returns the format for a deployment prefix such as "lk" or "flr_pat".
func NewFormat(prefix string) Format { return Format{prefix: prefix} }

// Prefix returns the deployment prefix.
func (f Format) Prefix() string { return f.prefix }

// New generates a fresh key for env.
func (f Format) New(env string) (string, error) {
	if env != EnvLive && env != EnvTest {
		return "", fmt.Errorf("keys: unknown environment %q", env)
	}
	r, err := secret.Random(256)
	if err != nil {
		return "", err
	}
	body := f.prefix + "_" + env + "_" + r[:randomLen]
	return body + "_" + checksum(body), nil
}

// Parsed is a syntactically valid key.
type Parsed struct {
	Env    string
	Random string
}

// Display is what the UI shows: prefix, environment and the first 4
// characters of the random part (e.g. "lk_live_Ab3x").
func (f Format) Display(p Parsed) string {
	return f.prefix + "_" + p.Env + "_" + p.Random[:4]
}

// Looks reports whether s starts like a key of this deployment (cheap
// routing between API keys and OAuth tokens; Parse is the real check).
func (f Format) Looks(s string) bool {
	return strings.HasPrefix(s, f.prefix+"_live_") || strings.HasPrefix(s, f.prefix+"_test_")
}

// Parse checks the structure and checksum of key.
func (f Format) Parse(key string) (Parsed, error) {
	want := len(f.prefix) + 1 + 4 + 1 + randomLen + 1 + checksumLen
	if len(key) != want || !strings.HasPrefix(key, f.prefix+"_") {
		return Parsed{}, ErrMalformed
	}
	rest := key[len(f.prefix)+1:]
	env := rest[:4]
	if (env != EnvLive && env != EnvTest) || rest[4] != '_' {
		return Parsed{}, ErrMalformed
	}
	random := rest[5 : 5+randomLen]
	if rest[5+randomLen] != '_' {
		return Parsed{}, ErrMalformed
	}
	sum := rest[5+randomLen+1:]
	for _, s := range []string{random, sum} {
		for i := 0; i < len(s); i++ {
			if strings.IndexByte(base62, s[i]) < 0 {
				return Parsed{}, ErrMalformed
			}
		}
	}
	if checksum(key[:len(key)-checksumLen-1]) != sum {
		return Parsed{}, ErrBadChecksum
	}
	return Parsed{Env: env, Random: random}, nil
}

// checksum encodes CRC32(s) as 6 base62 characters, most significant first.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}
