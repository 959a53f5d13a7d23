package server_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/internal/flowtest"
	"github.com/latchkey/latchkey/internal/smtptest"
)

// TestCloseWaitsForResetMail: a reset mail still being sent in the
// background when the server shuts down is delivered, not dropped.
func TestCloseWaitsForResetMail(t *testing.T) {
	mailer := smtptest.Start(t, "", "")
	s := newTestServerWith(t, func(c *config.Config) {
		c.SMTP.URL, c.SMTP.From = mailer.URL(), "no-reply@example.com"
	})
	s.CreateUser(t, "rose", "rose-password-2026")
	c := flowtest.Browser(t)
	_, page := flowtest.Get(t, c, s.URL+"/forgot-password")
	form := url.Values{"csrf_token": {flowtest.FormValue(t, flowtest.CSRFRe, page)}, "who": {"rose"}}
	mailer.Hold()
	if resp, _ := flowtest.PostForm(t, c, s.URL+"/forgot-password", form, s.URL); resp.StatusCode != http.StatusOK {
		t.Fatalf("forgot-password: %d", resp.StatusCode)
	}
	mailer.Held(t, 5*time.Second) // the mail is on its way
	closed := make(chan struct{})
	go func() { s.App.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a reset mail was still being sent")
	case <-time.After(50 * time.Millisecond):
	}
	mailer.Release()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the mail went out")
	}
	if mailer.Pending() != 1 {
		t.Fatalf("%d mails delivered, want 1", mailer.Pending())
	}
}

// TestDevMailOnlyOnLocalIssuer: without smtp.url the outbox holds every
// reset link, so /dev/mail — open to anyone — exists only on a development
// issuer (localhost, loopback). A public server upgraded without smtp.url
// must not show a stranger the link that resets someone else's password.
func TestDevMailOnlyOnLocalIssuer(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		want   int
	}{
		{"", http.StatusOK}, // the harness's http://127.0.0.1:port
		{"https://id.example.com", http.StatusNotFound},
	} {
		s := newTestServerWith(t, func(c *config.Config) {
			if tc.issuer != "" {
				c.Server.Issuer = tc.issuer
			}
		})
		if resp, body := flowtest.Get(t, flowtest.Browser(t), s.Server.URL+"/dev/mail"); resp.StatusCode != tc.want {
			t.Errorf("issuer %q: /dev/mail %d, want %d\n%s", tc.issuer, resp.StatusCode, tc.want, body)
		}
	}
}
