package secret

import (
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
	if !strings.HasPrefix(dummyHash, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", argonMemory, argonTime, argonThreads)) {
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
