package server_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/smtptest"
	"github.com/latchkey/latchkey/storage"
)

// TestRunMailsExpiringKey: a server run with smtp.url mails the verified
// owner of a key expiring within the week, linking to the key's page.
func TestRunMailsExpiringKey(t *testing.T) {
	mailer := smtptest.Start(t, "", "")
	s := newTestServerWith(t, func(c *config.Config) {
		c.Server.Addr = "127.0.0.1:0"
		c.SMTP.URL, c.SMTP.From = mailer.URL(), "Latchkey <no-reply@example.com>"
	})
	ctx := t.Context()
	u := s.CreateUser(t, "ada", "correct horse battery")
	db := s.App.DB()
	if err := db.VerifyEmail(ctx, u.ID, u.Email, time.Now()); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(3 * 24 * time.Hour)
	if err := db.CreateAPIKey(ctx, &storage.APIKey{ID: "k1", UserID: u.ID, Handle: "deploy", Display: "lk_live_ab12",
		Environment: "live", Tier: "free", Digest: bytes.Repeat([]byte{7}, 32), PepperVersion: 1, ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.App.Run(runCtx) }()
	got := mailer.Next(t, 10*time.Second)
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(got.To) != 1 || got.To[0] != u.Email {
		t.Errorf("mailed %q, want %s", got.To, u.Email)
	}
	if l := got.Link("/keys/"); l != s.URL+"/keys/deploy" {
		t.Errorf("link %q, want %s/keys/deploy", l, s.URL)
	}
	if k, err := db.GetAPIKey(ctx, "k1"); err != nil || k.ExpiryWarnedAt == nil {
		t.Errorf("key not marked warned: %+v %v", k, err)
	}
}
