package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testUserCreateGet(t *testing.T, ctx context.Context, s storage.Store) {
	u := newUser("u1")
	u.Admin = true
	must(t, s.CreateUser(ctx, u), "CreateUser")
	if u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() {
		t.Errorf("CreateUser left timestamps zero: created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
	for _, get := range []struct {
		name string
		fn   func() (*storage.User, error)
	}{
		{"GetUser", func() (*storage.User, error) { return s.GetUser(ctx, "u1") }},
		{"GetUserByUsername", func() (*storage.User, error) { return s.GetUserByUsername(ctx, "user-u1") }},
	} {
		got, err := get.fn()
		must(t, err, get.name)
		if got.ID != u.ID || got.Username != u.Username || got.Email != u.Email || got.Name != u.Name ||
			got.PasswordHash != u.PasswordHash || got.Admin != u.Admin {
			t.Errorf("%s = %+v, want %+v", get.name, got, u)
		}
		wantTime(t, get.name+" CreatedAt", got.CreatedAt, u.CreatedAt)
		wantTime(t, get.name+" UpdatedAt", got.UpdatedAt, u.UpdatedAt)
	}
}

func testUserDuplicateUsername(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	dup := newUser("u2")
	dup.Username = "user-u1"
	wantErr(t, s.CreateUser(ctx, dup), storage.ErrConflict, "CreateUser with a taken username")
	_, err := s.GetUser(ctx, "u2")
	wantErr(t, err, storage.ErrNotFound, "GetUser of the rejected user")
}

func testUserDuplicateID(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	dup := newUser("u1")
	dup.Username = "someone-else"
	wantErr(t, s.CreateUser(ctx, dup), storage.ErrConflict, "CreateUser with a taken id")
}

func testUserNotFound(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "CreateUser")
	u, err := s.GetUser(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUser(missing)")
	if u != nil {
		t.Errorf("GetUser(missing) returned %+v with the error", u)
	}
	_, err = s.GetUserByUsername(ctx, "nobody")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername(missing)")
	_, err = s.GetUserByUsername(ctx, "USER-U1")
	wantErr(t, err, storage.ErrNotFound, "GetUserByUsername is exact, so a case variant")
}

// ---- clients -------------------------------------------------------------

func testUserEndSessions(t *testing.T, ctx context.Context, s storage.Store) {
	must(t, s.CreateUser(ctx, newUser("u1")), "create")
	at := time.Now().UTC().Truncate(time.Microsecond)
	must(t, s.EndSessions(ctx, "u1", at), "end sessions")
	u, err := s.GetUser(ctx, "u1")
	must(t, err, "get")
	if u.SessionsNotBefore == nil || !sameTime(*u.SessionsNotBefore, at) {
		t.Fatalf("SessionsNotBefore = %v, want %v", u.SessionsNotBefore, at)
	}
	wantErr(t, s.EndSessions(ctx, "nope", at), storage.ErrNotFound, "unknown user")
}
