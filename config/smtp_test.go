package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestSMTPFromEnv: every smtp setting works as a LATCHKEY_ variable.
func TestSMTPFromEnv(t *testing.T) {
	c, err := Load("", []string{
		"LATCHKEY_SMTP_URL=smtps://mailer:pw@mail.example.com",
		"LATCHKEY_SMTP_FROM=Latchkey <no-reply@example.com>",
		"LATCHKEY_SMTP_RESET_LINK_LIFETIME=15m",
		"LATCHKEY_SMTP_VERIFY_LINK_LIFETIME=48h",
		"LATCHKEY_SMTP_KEY_EXPIRY_WARNINGS=false",
		"LATCHKEY_DATA_DIR=" + t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.URL != "smtps://mailer:pw@mail.example.com" || c.SMTP.From != "Latchkey <no-reply@example.com>" ||
		c.SMTP.ResetLinkLifetime.Duration() != 15*time.Minute || c.SMTP.VerifyLinkLifetime.Duration() != 48*time.Hour || c.SMTP.KeyExpiryWarnings {
		t.Errorf("SMTP = %+v", c.SMTP)
	}
	d := Defaults().SMTP
	if d.URL != "" || d.ResetLinkLifetime.Duration() != 30*time.Minute || d.VerifyLinkLifetime.Duration() != 24*time.Hour || !d.KeyExpiryWarnings {
		t.Errorf("defaults = %+v", d)
	}
}

// TestSMTPValidate: each bad setting is named; no message repeats the URL.
func TestSMTPValidate(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*SMTPConfig)
		want   string
	}{
		{func(s *SMTPConfig) { s.URL, s.From = "smtp://mail.example.com:587", "a@example.com" }, ""},
		{func(s *SMTPConfig) { s.URL = "smtp://u:hunter2secret@mail.example.com" }, "smtp.from: is required"},
		{func(s *SMTPConfig) { s.URL, s.From = "http://u:hunter2secret@mail.example.com", "a@example.com" }, "smtp.url"},
		{func(s *SMTPConfig) { s.From = "not an address" }, "smtp.from"},
		{func(s *SMTPConfig) { s.ResetLinkLifetime = Duration(time.Minute) }, "smtp.reset_link_lifetime"},
		{func(s *SMTPConfig) { s.VerifyLinkLifetime = Duration(30 * 24 * time.Hour) }, "smtp.verify_link_lifetime"},
	} {
		c := testConfig(t)
		tc.mutate(&c.SMTP)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", c.SMTP, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("want %q, got %v", tc.want, err)
		case err != nil && strings.Contains(err.Error(), "hunter2secret"):
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

// TestSMTPRedacted: printing, logging or marshalling the config never
// shows the SMTP password.
func TestSMTPRedacted(t *testing.T) {
	c := testConfig(t)
	c.SMTP.URL, c.SMTP.From = "smtp://mailer:hunter2secret@mail.example.com:587", "a@example.com"
	j, _ := json.Marshal(c.SMTP)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", c, *c, c.SMTP), slog.AnyValue(c.SMTP).Resolve().String(), string(j)} {
		if strings.Contains(out, "hunter2secret") {
			t.Errorf("password leaked: %s", out)
		}
		if !strings.Contains(out, "mail.example.com") {
			t.Errorf("host missing: %s", out)
		}
	}
}
