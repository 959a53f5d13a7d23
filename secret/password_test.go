package secret

import (
	"errors"
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
