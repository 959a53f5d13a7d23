package secret

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, "correct") {
		t.Fatalf("unexpected hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Fatal("same salt twice")
	}
	tests := []struct {
		name, hash, pw string
		ok             bool
	}{
		{"right password", h, "correct horse battery staple", true},
		{"wrong password", h, "correct horse battery stapl", false},
		{"empty password", h, "", false},
		{"garbage hash", "nonsense", "x", false},
		{"bcrypt-looking hash", "$2a$10$abcdefghijklmnopqrstuv", "x", false},
		{"absurd memory parameter", "$argon2id$v=19$m=999999999,t=1,p=2$c2FsdA$a2V5", "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPassword(tc.hash, tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyPassword = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if err := VerifyPassword(h, "nope"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("want ErrPasswordMismatch, got %v", err)
	}
}

// TestVerifyNoUser: the dummy hash is well formed (so the check really runs
// argon2id with the production parameters) and nothing matches it.
func TestVerifyNoUser(t *testing.T) {
	c := CurrentPasswordParams
	if !strings.HasPrefix(dummyHash, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", c.MemoryKiB, c.Time, c.Threads)) || NeedsRehash(dummyHash) {
		t.Fatalf("dummy hash parameters differ from HashPassword's: %s", dummyHash)
	}
	for _, pw := range []string{"", "x", "latchkey"} {
		if err := VerifyNoUser(pw); !errors.Is(err, ErrPasswordMismatch) {
			t.Fatalf("VerifyNoUser(%q) = %v", pw, err)
		}
		if err := VerifyPassword(dummyHash, pw); !errors.Is(err, ErrPasswordMismatch) {
			t.Fatalf("dummy hash is malformed or matched: %v", err)
		}
	}
}

// TestPasswordMigration: a hash made with the parameters before issue 16
// (64 MiB, t = 1, p = 2) or during it (19 MiB, t = 2) keeps verifying; a right password checked through
// the gate yields a new hash with the current parameters, which verifies
// and needs no further upgrade; a wrong password yields nothing; a current
// hash is never re-hashed.
func TestPasswordMigration(t *testing.T) {
	const pw = "correct horse battery staple"
	legacy, err := hashPasswordWith(LegacyPasswordParams, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(legacy, "$m=65536,t=1,p=2$") {
		t.Fatalf("legacy hash %q", legacy)
	}
	if err := VerifyPassword(legacy, pw); err != nil {
		t.Fatalf("legacy hash no longer verifies: %v", err)
	}
	interim, err := hashPasswordWith(PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}, pw)
	if err != nil {
		t.Fatal(err)
	}
	current, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, pw string
		needs          bool
		wantErr        error
		wantUpgrade    bool
	}{
		{"legacy, right password", legacy, pw, true, nil, true},
		{"legacy, wrong password", legacy, "nope", true, ErrPasswordMismatch, false},
		{"m=19 MiB t=2 (issue 16's first step), right password", interim, pw, true, nil, true},
		{"m=19 MiB t=2, wrong password", interim, "nope", true, ErrPasswordMismatch, false},
		{"current, right password", current, pw, false, nil, false},
		{"current, wrong password", current, "nope", false, ErrPasswordMismatch, false},
		{"unknown user", "", pw, false, ErrPasswordMismatch, false},
		{"other version", strings.Replace(current, "$v=19$", "$v=16$", 1), "nope", true, ErrPasswordMismatch, false},
	}
	gate := NewPasswordGate(0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := gate.Verify(t.Context(), tc.hash, tc.pw); !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Verify error %v, want %v", err, tc.wantErr)
			}
			if got := NeedsRehash(tc.hash); got != tc.needs {
				t.Fatalf("NeedsRehash = %v, want %v", got, tc.needs)
			}
			up, err := gate.Check(t.Context(), tc.hash, tc.pw)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Check error %v, want %v", err, tc.wantErr)
			}
			if (up != "") != tc.wantUpgrade {
				t.Fatalf("Check upgraded = %q, want an upgrade: %v", up, tc.wantUpgrade)
			}
			if up == "" {
				return
			}
			c := CurrentPasswordParams
			if !strings.HasPrefix(up, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", c.MemoryKiB, c.Time, c.Threads)) || NeedsRehash(up) {
				t.Fatalf("upgraded hash %q is not made with the current parameters", up)
			}
			if err := VerifyPassword(up, tc.pw); err != nil {
				t.Fatalf("upgraded hash does not verify: %v", err)
			}
			if again, err := gate.Check(t.Context(), up, tc.pw); err != nil || again != "" {
				t.Fatalf("second check of the upgraded hash: %q, %v; want no upgrade", again, err)
			}
		})
	}
}

// TestPasswordCheckCancelled: a check queued behind a full gate gives up
// with ctx's error, not a mismatch (callers answer 503, not 401).
func TestPasswordCheckCancelled(t *testing.T) {
	gate := NewPasswordGate(runMiB)
	release, err := gate.Enter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := gate.Check(ctx, dummyHash, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check on a full gate with a cancelled context = %v", err)
	}
}

// Before/after of issue 16 (BENCHMARKS.md "Password hashing"): the time one
// guess costs, per parameter set. An attacker with the stored hash pays
// this per guess on the same hardware (and its memory, B/op).
func BenchmarkPasswordVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    PasswordParams
	}{
		{"legacy_m64MiB_t1_p2", LegacyPasswordParams},
		{"issue16_m19MiB_t2_p1", PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}},
		{"current_m12MiB_t3_p1", CurrentPasswordParams},
		{"keycloak_m7MiB_t5_p1", PasswordParams{MemoryKiB: 7 * 1024, Time: 5, Threads: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h, err := hashPasswordWith(tc.p, "pw")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := VerifyPassword(h, "pw"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPasswordVerifyNoUser must match BenchmarkPasswordVerify/current.
func BenchmarkPasswordVerifyNoUser(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = VerifyNoUser("pw")
	}
}

// BenchmarkPasswordCheckParallel: checks through a default gate from many
// goroutines (throughput of password checks on this machine).
func BenchmarkPasswordCheckParallel(b *testing.B) {
	h, err := HashPassword("pw")
	if err != nil {
		b.Fatal(err)
	}
	gate := NewPasswordGate(0)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := gate.Check(context.Background(), h, "pw"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPasswordUpgrade: one login on a legacy hash — its check and
// the re-hash with the current parameters (paid once per account).
func BenchmarkPasswordUpgrade(b *testing.B) {
	h, err := hashPasswordWith(LegacyPasswordParams, "pw")
	if err != nil {
		b.Fatal(err)
	}
	gate := NewPasswordGate(0)
	b.ReportAllocs()
	for b.Loop() {
		if up, err := gate.Check(context.Background(), h, "pw"); err != nil || up == "" {
			b.Fatal(up, err)
		}
	}
}
