package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/secret"
	"github.com/latchkey/latchkey/storage"
)

// TestLoginWaitsForPasswordGate: the login form's argon2id check takes a
// slot of the shared PasswordGate, so while every slot is taken (by other
// logins, sign-ups or HTTP Basic checks) a login waits instead of adding
// another 64 MiB run, and completes once a slot is free.
func TestLoginWaitsForPasswordGate(t *testing.T) {
	f := newPagesFixture(t)
	gate := secret.NewPasswordGate(1)
	f.h.cfg.PasswordGate = gate
	hash, err := secret.HashPassword("gate-password-123")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(context.Background(), &storage.User{ID: "u-gate", Username: "gail", PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	release, err := gate.Enter(t.Context()) // every slot taken
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		resp, _ := f.do(t, f.anon(t), http.MethodPost, "/login", url.Values{"username": {"gail"}, "password": {"gate-password-123"}})
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		t.Fatalf("login answered %d while the password gate was full", code)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case code := <-done:
		if code != http.StatusSeeOther {
			t.Fatalf("login after the gate freed: %d, want 303", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("login still waiting 10 s after the gate freed")
	}
}
