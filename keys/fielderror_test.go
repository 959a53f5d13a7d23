package keys

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestFieldErrors: every request problem is a *FieldError naming the
// field, matching ErrInvalid, with the text the JSON API has always shown.
func TestFieldErrors(t *testing.T) {
	s, _, _, _ := newService(t, false)
	ctx := t.Context()
	k, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "k"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 201)
	neg := time.Duration(-1)
	tests := []struct {
		name, field, text string
		call              func() error
	}{
		{"create: handle", "handle", "keys: invalid request: handle must be 1-64 letters, digits, '.', '_' or '-'", func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "a b"})
			return err
		}},
		{"create: alias", "alias", "keys: invalid request: alias is longer than 200 characters", func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "x", Alias: long})
			return err
		}},
		{"create: environment", "environment", "keys: invalid request: environment must be live or test", func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "x", Environment: "prod"})
			return err
		}},
		{"create: tier", "tier", `keys: invalid request: unknown tier "platinum"`, func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "x", Tier: "platinum"})
			return err
		}},
		{"create: expires_in", "expires_in", "keys: invalid request: expires_in must be positive", func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "x", ExpiresIn: -time.Second})
			return err
		}},
		{"create: scopes", "scopes", `keys: invalid request: unknown scope "admin:all"`, func() error {
			_, _, err := s.Create(ctx, "u1", owner, CreateRequest{Handle: "x", Scopes: []string{"admin:all"}})
			return err
		}},
		{"update: alias", "alias", "keys: invalid request: alias is longer than 200 characters", func() error {
			_, err := s.Update(ctx, "u1", k.Handle, owner, Patch{Alias: &long})
			return err
		}},
		{"update: expires_in", "expires_in", "keys: invalid request: expires_in must be positive", func() error {
			_, err := s.Update(ctx, "u1", k.Handle, owner, Patch{ExpiresIn: &neg})
			return err
		}},
		{"rotate: grace_seconds", "grace_seconds", "keys: invalid request: grace_seconds must be between 0 and 2592000", func() error {
			_, _, err := s.Rotate(ctx, "u1", k.Handle, owner, -time.Second, "")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (%T), want a *FieldError matching ErrInvalid", err, err)
			}
			if fe.Field != tc.field || err.Error() != tc.text {
				t.Fatalf("FieldError{%q, %q} reads %q, want field %q reading %q", fe.Field, fe.Message, err.Error(), tc.field, tc.text)
			}
		})
	}
}
