package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/config"
)

// TestKeyWarnerOnlyWithSMTP: the expiry mailer runs only with smtp.url set
// and smtp.key_expiry_warnings on; without a mail server it says why.
func TestKeyWarnerOnlyWithSMTP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     string
		on      bool
		want    bool
		wantLog string
	}{
		{"smtp and on", "smtp://mail.example.test", true, true, ""},
		{"smtp but off", "smtp://mail.example.test", false, false, ""},
		{"no smtp", "", true, false, "no smtp.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.SMTP.URL, cfg.SMTP.From, cfg.SMTP.KeyExpiryWarnings = tc.url, "no-reply@example.test", tc.on
			var logs bytes.Buffer
			a := &App{cfg: cfg, log: slog.New(slog.NewTextHandler(&logs, nil))}
			w, err := a.keyWarner()
			if err != nil {
				t.Fatal(err)
			}
			if (w != nil) != tc.want {
				t.Errorf("warner %v, want one: %v", w, tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tc.wantLog)
			}
		})
	}
}
