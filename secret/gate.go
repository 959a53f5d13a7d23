package secret

import "context"

// DefaultPasswordChecks is how many argon2id runs a PasswordGate made with
// n <= 0 allows at once: 4 × 64 MiB of memory at most.
const DefaultPasswordChecks = 4

// PasswordGate bounds how many argon2id runs (each holds 64 MiB for tens of
// milliseconds) happen at once. One gate is shared by everything that
// hashes or checks a password — the login form, sign-up, HTTP Basic on the
// API — so a burst of password requests queues instead of exhausting the
// process's memory. A nil *PasswordGate does not limit.
type PasswordGate struct {
	slots chan struct{}
}

// NewPasswordGate returns a gate allowing n runs at once
// (DefaultPasswordChecks when n <= 0).
func NewPasswordGate(n int) *PasswordGate {
	if n <= 0 {
		n = DefaultPasswordChecks
	}
	return &PasswordGate{slots: make(chan struct{}, n)}
}

// Enter waits for a slot and returns the function that gives it back, or
// ctx's error when ctx ends first (the client went away).
func (g *PasswordGate) Enter(ctx context.Context) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
