package storage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func TestClientRotateSecret(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cur, older := []byte("current"), []byte("older")
	tests := []struct {
		name string
		// previous is a previous secret from an earlier rotation, still in grace.
		previous bool
		current  []byte
		grace    time.Duration
		// wantPrev is the previous secret afterwards (nil: none) and
		// wantUntil its expiry.
		wantPrev  []byte
		wantUntil time.Time
	}{
		{name: "grace keeps the replaced secret", current: cur, grace: time.Hour, wantPrev: cur, wantUntil: now.Add(time.Hour)},
		{name: "no grace drops it at once", current: cur, grace: 0},
		{name: "negative grace is no grace", current: cur, grace: -time.Hour},
		{name: "second rotation replaces the previous secret", previous: true, current: cur, grace: 24 * time.Hour, wantPrev: cur, wantUntil: now.Add(24 * time.Hour)},
		{name: "second rotation without grace drops both old secrets", previous: true, current: cur, grace: 0},
		{name: "grace is capped", current: cur, grace: 365 * 24 * time.Hour, wantPrev: cur, wantUntil: now.Add(storage.MaxSecretGrace)},
		{name: "a client without a secret keeps no empty previous one", grace: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &storage.Client{SecretDigest: tc.current, SecretVersion: 1}
			if tc.previous {
				until := now.Add(time.Hour)
				c.PreviousSecretDigest, c.PreviousSecretVersion, c.PreviousSecretExpiresAt = older, 1, &until
			}
			c.RotateSecret([]byte("new"), 2, now, tc.grace)
			if string(c.SecretDigest) != "new" || c.SecretVersion != 2 {
				t.Fatalf("secret %q v%d, want the new one", c.SecretDigest, c.SecretVersion)
			}
			if !slices.Equal(c.PreviousSecretDigest, tc.wantPrev) {
				t.Fatalf("previous %q, want %q", c.PreviousSecretDigest, tc.wantPrev)
			}
			if tc.wantPrev == nil {
				if c.PreviousSecretExpiresAt != nil || c.PreviousSecretVersion != 0 || c.PreviousSecretActive(now) {
					t.Fatalf("previous secret kept: v%d until %v", c.PreviousSecretVersion, c.PreviousSecretExpiresAt)
				}
				return
			}
			if c.PreviousSecretVersion != 1 || c.PreviousSecretExpiresAt == nil || !c.PreviousSecretExpiresAt.Equal(tc.wantUntil) {
				t.Fatalf("previous v%d until %v, want v1 until %v", c.PreviousSecretVersion, c.PreviousSecretExpiresAt, tc.wantUntil)
			}
			if !c.PreviousSecretActive(now) || !c.PreviousSecretActive(tc.wantUntil.Add(-time.Nanosecond)) {
				t.Error("previous secret inactive during its grace")
			}
			if c.PreviousSecretActive(tc.wantUntil) || c.PreviousSecretActive(tc.wantUntil.Add(time.Second)) {
				t.Error("previous secret active at or after the end of its grace")
			}
			c.EndSecretGrace()
			if c.PreviousSecretActive(now) || c.PreviousSecretDigest != nil || c.PreviousSecretExpiresAt != nil {
				t.Error("EndSecretGrace left the previous secret")
			}
		})
	}
}

func TestPreviousSecretActiveNeedsExpiry(t *testing.T) {
	c := &storage.Client{PreviousSecretDigest: []byte("d")}
	if c.PreviousSecretActive(time.Now()) {
		t.Fatal("a previous secret without an expiry counts as active")
	}
}
