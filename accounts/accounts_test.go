package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// memStore is an in-memory Store.
type memStore struct{ users []*storage.User }

func (m *memStore) CreateUser(_ context.Context, u *storage.User) error {
	for _, o := range m.users {
		if o.Username == u.Username {
			return fmt.Errorf("user: %w", storage.ErrConflict)
		}
	}
	m.users = append(m.users, u)
	return nil
}

func TestCreate(t *testing.T) {
	store := &memStore{}
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	s := New(store, Config{Gate: secret.NewPasswordGate(1), Now: func() time.Time { return at }})
	u, err := s.Create(t.Context(), NewUser{Username: "ops", Email: "ops@example.com", Name: "Ops", Password: "tangerine otter lamp", Admin: true})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if u.ID == "" || u.Username != "ops" || u.Email != "ops@example.com" || u.Name != "Ops" || !u.Admin || !u.CreatedAt.Equal(at) {
		t.Fatalf("created %+v", u)
	}
	if strings.Contains(u.PasswordHash, "tangerine") || secret.VerifyPassword(u.PasswordHash, "tangerine otter lamp") != nil {
		t.Fatalf("password hash %q does not verify", u.PasswordHash)
	}
	if len(store.users) != 1 || store.users[0] != u {
		t.Fatalf("stored %v", store.users)
	}

	_, err = s.Create(t.Context(), NewUser{Username: "ops", Password: "another long password"})
	if !errors.Is(err, ErrUsernameTaken) || !errors.Is(err, storage.ErrConflict) || errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate: %v", err)
	}

	_, err = s.Create(t.Context(), NewUser{Username: "Ops", Password: "short"})
	var fe FieldErrors
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Message(FieldUsername) == "" || fe.Message(FieldPassword) == "" {
		t.Fatalf("invalid: %v", err)
	}
	if len(store.users) != 1 {
		t.Fatalf("an invalid user was stored: %v", store.users)
	}
}

// TestCreateWaitsForGate: with the gate full, Create gives up when its
// context ends, with ErrBusy, and stores nothing.
func TestCreateWaitsForGate(t *testing.T) {
	gate := secret.NewPasswordGate(1)
	release, err := gate.Enter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	store := &memStore{}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = New(store, Config{Gate: gate}).Create(ctx, NewUser{Username: "ops", Password: "tangerine otter lamp"})
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) || len(store.users) != 0 {
		t.Fatalf("Create with a full gate: %v (stored %d)", err, len(store.users))
	}
}

// TestCreateLeavesCreatedAtToStore: without Config.Now the store's clock
// stamps the user.
func TestCreateLeavesCreatedAtToStore(t *testing.T) {
	store := &memStore{}
	u, err := New(store, Config{}).Create(t.Context(), NewUser{Username: "ops", Password: "tangerine otter lamp"})
	if err != nil || !u.CreatedAt.IsZero() {
		t.Fatalf("Create: %+v, %v", u, err)
	}
}
