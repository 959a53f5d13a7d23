// Package passwordtest holds a password hash made before issue 16, for the
// tests that prove old hashes keep verifying and are upgraded on login.
package passwordtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/secret"
)

// LegacyPassword is the password of LegacyHash.
const LegacyPassword = "legacy horse battery 64"

// LegacyHash is an argon2id hash of LegacyPassword with the parameters
// every hash had before issue 16 (m = 64 MiB, t = 1, p = 2), as such a
// hash sits in a database made by an older Latchkey.
const LegacyHash = "$argon2id$v=19$m=65536,t=1,p=2$7LinPBLuerwE5PFd4yQQZA$q3McurwdRKqosDO0JemvGWeXZUCw8l6alGtSlt7njko"

// RequireUpgraded fails t unless hash is no longer LegacyHash, was made
// with the current parameters and verifies LegacyPassword.
func RequireUpgraded(t testing.TB, hash string) {
	t.Helper()
	p := secret.CurrentPasswordParams
	if hash == LegacyHash || secret.NeedsRehash(hash) ||
		!strings.Contains(hash, fmt.Sprintf("$m=%d,t=%d,p=%d$", p.MemoryKiB, p.Time, p.Threads)) {
		t.Fatalf("stored hash %q was not upgraded to the current parameters %+v", hash, p)
	}
	if err := secret.VerifyPassword(hash, LegacyPassword); err != nil {
		t.Fatalf("the upgraded hash does not verify the password: %v", err)
	}
}
