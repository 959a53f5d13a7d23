package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/smtptest"
	"github.com/latchkey/latchkey/mail"
)

type mailData struct {
	Username, Email, Link, Expires, Site string
}

func compose(t *testing.T, name string) mail.Message {
	t.Helper()
	c, err := mail.NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Compose(name, "ada@example.test", mailData{
		Username: "ada", Email: "ada@example.test", Link: "https://id.example.test/reset?token=abc<&>", Expires: "30 minutes", Site: "https://id.example.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestComposeEveryMail: each mail has a subject, a text body and an HTML
// alternative carrying the link (escaped in HTML).
func TestComposeEveryMail(t *testing.T) {
	for _, tc := range []struct{ name, subject string }{
		{"verify", "Confirm your email address for Latchkey"},
		{"reset", "Reset your Latchkey password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := compose(t, tc.name)
			if m.Subject != tc.subject || m.To != "ada@example.test" {
				t.Errorf("subject %q to %q", m.Subject, m.To)
			}
			if !strings.Contains(m.Text, "https://id.example.test/reset?token=abc<&>") || strings.HasPrefix(m.Text, "Subject") {
				t.Errorf("text body:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, `href="https://id.example.test/reset?token=abc%3c&amp;%3e"`) {
				t.Errorf("html body does not carry the escaped link:\n%s", m.HTML)
			}
		})
	}
	c, _ := mail.NewComposer()
	if _, err := c.Compose("nosuch", "a@example.test", nil); !errors.Is(err, mail.ErrTemplate) {
		t.Errorf("unknown mail: %v, want ErrTemplate", err)
	}
}

// TestSMTPDelivers sends through a real SMTP server requiring AUTH and
// reads back both alternatives.
func TestSMTPDelivers(t *testing.T) {
	srv := smtptest.Start(t, "mailer", "s3cret")
	s, err := mail.NewSMTP(srv.URL(), "Latchkey <no-reply@id.example.test>")
	if err != nil {
		t.Fatal(err)
	}
	want := compose(t, "reset")
	if err := s.Send(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got := srv.Next(t, 5*time.Second)
	if got.Subject != want.Subject || got.From != "no-reply@id.example.test" || len(got.To) != 1 || got.To[0] != "ada@example.test" {
		t.Errorf("received subject %q from %q to %q", got.Subject, got.From, got.To)
	}
	if got.Link("/reset?token=") != "https://id.example.test/reset?token=abc" && !strings.Contains(got.Text, "token=abc<&>") {
		t.Errorf("text part lost the link:\n%s", got.Text)
	}
	if !strings.Contains(got.HTML, "Choose a new password") {
		t.Errorf("no HTML alternative:\n%s", got.Raw)
	}
	if len(srv.Auth) != 1 || srv.Auth[0] != "mailer" {
		t.Errorf("AUTH identities %q, want one as mailer", srv.Auth)
	}
}

// TestSMTPWrongPassword: a refused login is an error, not a silent drop.
func TestSMTPWrongPassword(t *testing.T) {
	srv := smtptest.Start(t, "mailer", "s3cret")
	s, err := mail.NewSMTP(strings.Replace(srv.URL(), "s3cret", "wrong", 1), "no-reply@id.example.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Send(ctx, compose(t, "verify")); err == nil {
		t.Fatal("send with a wrong password succeeded")
	}
	if srv.Pending() != 0 {
		t.Error("a message arrived without authentication")
	}
}

// TestNewSMTPRefusesBadConfig: each mistake is ErrConfig and no error
// repeats the URL's password.
func TestNewSMTPRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ name, url, from string }{
		{"no from", "smtp://u:pw-secret@mail.example.test", ""},
		{"bad from", "smtp://u:pw-secret@mail.example.test", "not an address"},
		{"scheme", "http://u:pw-secret@mail.example.test", "a@example.test"},
		{"no host", "smtp://u:pw-secret@:25", "a@example.test"},
		{"port", "smtp://u:pw-secret@mail.example.test:99999", "a@example.test"},
		{"tls mode", "smtp://u:pw-secret@mail.example.test?tls=maybe", "a@example.test"},
		{"tls on smtps", "smtps://u:pw-secret@mail.example.test?tls=none", "a@example.test"},
		{"unparsable", "smtp://u:pw-secret@mail example.test:%zz", "a@example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mail.NewSMTP(tc.url, tc.from)
			if !errors.Is(err, mail.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), "pw-secret") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
	for _, ok := range []string{"smtp://mail.example.test", "smtps://u:p@mail.example.test", "smtp://mail.example.test:2525?tls=opportunistic"} {
		if _, err := mail.NewSMTP(ok, "a@example.test"); err != nil {
			t.Errorf("NewSMTP(%q): %v", ok, err)
		}
	}
}

// TestOutboxKeepsNewestFirst: the development outbox never fails and
// lists the newest message first.
func TestOutboxKeepsNewestFirst(t *testing.T) {
	o := mail.NewOutbox(nil, func() time.Time { return time.Unix(100, 0) })
	for _, s := range []string{"one", "two"} {
		if err := o.Send(t.Context(), mail.Message{To: "a@example.test", Subject: s}); err != nil {
			t.Fatal(err)
		}
	}
	got := o.Messages()
	if len(got) != 2 || got[0].Subject != "two" || got[1].Subject != "one" || !got[0].At.Equal(time.Unix(100, 0)) {
		t.Errorf("Messages() = %+v", got)
	}
}
