package secret

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// DefaultPasswordMemoryMiB is the argon2id memory budget of a gate made
// with a budget <= 0, and server.password_memory_mib's default: two
// checks at once with the current parameters (2 × 12 MiB). A check with
// p = 1 is one core's work, so two keep two cores busy and a third would
// only wait in memory.
const DefaultPasswordMemoryMiB = 24

// PasswordGate bounds the memory held by argon2id runs in flight. Each run
// allocates its m parameter (12 MiB today, 64 MiB for legacy hashes) for
// tens of milliseconds; the gate admits runs while the sum of their memory
// fits its budget, so how many run at once follows from the budget and the
// hashes being checked. One gate is shared by everything that hashes or
// checks a password — the login form, sign-up, HTTP Basic on the API,
// password changes — so a burst of password requests queues instead of
// exhausting the process's memory. A nil *PasswordGate does not limit.
type PasswordGate struct {
	sem       *semaphore.Weighted
	budgetKiB int64
}

// NewPasswordGate returns a gate whose argon2id runs together hold at
// most budgetMiB MiB (DefaultPasswordMemoryMiB when budgetMiB <= 0). A
// budget smaller than one run still admits one run at a time.
func NewPasswordGate(budgetMiB int) *PasswordGate {
	if budgetMiB <= 0 {
		budgetMiB = DefaultPasswordMemoryMiB
	}
	kib := int64(budgetMiB) << 10
	return &PasswordGate{sem: semaphore.NewWeighted(kib), budgetKiB: kib}
}

// Checks is how many checks with the current parameters the gate runs at
// once (at least 1).
func (g *PasswordGate) Checks() int {
	if g == nil {
		return 0
	}
	return max(1, int(g.budgetKiB/argonMemory))
}

// Enter waits until one argon2id run with the current parameters fits
// (hashing a new password) and returns the function that gives its memory
// back, or ctx's error when ctx ends first (the client went away).
func (g *PasswordGate) Enter(ctx context.Context) (release func(), err error) {
	return g.enter(ctx, argonMemory)
}

// enter waits for kib KiB of the budget (all of it when kib is larger).
func (g *PasswordGate) enter(ctx context.Context, kib int64) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	kib = min(kib, g.budgetKiB)
	if err := g.sem.Acquire(ctx, kib); err != nil {
		return nil, err
	}
	return func() { g.sem.Release(kib) }, nil
}

// Verify checks password against a stored hash inside the gate, with the
// slot sized for that hash's memory, and never re-hashes: for a check that
// is followed by replacing or deleting the hash (a password change, an
// account deletion). An empty hash costs what VerifyNoUser costs and
// fails. Errors as for Check.
func (g *PasswordGate) Verify(ctx context.Context, hash, password string) error {
	if hash == "" {
		hash = dummyHash
	}
	release, err := g.enter(ctx, hashMemoryKiB(hash))
	if err != nil {
		return err
	}
	defer release()
	if hash == dummyHash {
		return VerifyNoUser(password)
	}
	return VerifyPassword(hash, password)
}

// Check verifies password against a stored hash inside the gate. An empty
// hash stands for an unknown user: the check then costs what one with the
// current parameters costs (VerifyNoUser) and fails with
// ErrPasswordMismatch. A failure is ErrPasswordMismatch, a malformed-hash
// error, or ctx's error when ctx ended while queued.
//
// When the password is right and the hash was made with other parameters
// than today's (NeedsRehash), Check hashes the password again with the
// current parameters and returns that hash as upgraded, for the caller to
// store in place of the old one (the login succeeds whether or not it is
// stored). The re-hash runs in the same slot, right after the check, and
// the slot is sized for both (the old hash's memory plus the current
// parameters'), so the budget still bounds the memory in flight. Only
// hashes with other parameters are re-hashed, and always with the current
// parameters, so nothing weaker than today's is ever returned.
func (g *PasswordGate) Check(ctx context.Context, hash, password string) (upgraded string, err error) {
	if hash == "" {
		release, err := g.Enter(ctx)
		if err != nil {
			return "", err
		}
		defer release()
		return "", VerifyNoUser(password)
	}
	rehash := NeedsRehash(hash)
	cost := hashMemoryKiB(hash)
	if rehash {
		cost += argonMemory
	}
	release, err := g.enter(ctx, cost)
	if err != nil {
		return "", err
	}
	defer release()
	if err := VerifyPassword(hash, password); err != nil {
		return "", err
	}
	if !rehash {
		return "", nil
	}
	upgraded, err = HashPassword(password)
	if err != nil { // no randomness: keep the old hash, the login stands
		return "", nil
	}
	return upgraded, nil
}
