package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"time"
)

// SMTPConfig names the mail server account mail (verification and
// password-reset links) goes through. An empty URL means none: mail is
// written to the log and shown at /dev/mail instead, for development.
// Printing or logging it redacts the URL's password.
type SMTPConfig struct {
	// URL is smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none]
	// or smtps://[user:password@]host[:port] (package mail).
	URL string `yaml:"url"`
	// From is the sender address, e.g. "Latchkey <no-reply@example.com>".
	From string `yaml:"from"`
	// ResetLinkLifetime and VerifyLinkLifetime bound the mailed links.
	ResetLinkLifetime  Duration `yaml:"reset_link_lifetime"`
	VerifyLinkLifetime Duration `yaml:"verify_link_lifetime"`
	// KeyExpiryWarnings mails the owner (verified address only) of each API
	// key once when it comes within 7 days of its expiry (package
	// keywarn). Only with URL set: the development outbox is not filled.
	KeyExpiryWarnings bool `yaml:"key_expiry_warnings"`
}

// Bounds of the link lifetimes.
const (
	minLinkLifetime = 5 * time.Minute
	maxLinkLifetime = 7 * 24 * time.Hour
)

func defaultSMTP() SMTPConfig {
	return SMTPConfig{ResetLinkLifetime: Duration(30 * time.Minute), VerifyLinkLifetime: Duration(24 * time.Hour), KeyExpiryWarnings: true}
}

// redactedURL is URL with any password replaced.
func (s SMTPConfig) redactedURL() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		if s.URL == "" {
			return ""
		}
		return redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return s.URL
}

func (s SMTPConfig) redactedString() string {
	return fmt.Sprintf("{URL:%s From:%s ResetLinkLifetime:%s VerifyLinkLifetime:%s KeyExpiryWarnings:%t}",
		s.redactedURL(), s.From, s.ResetLinkLifetime, s.VerifyLinkLifetime, s.KeyExpiryWarnings)
}

// String redacts the URL's password.
func (s SMTPConfig) String() string { return s.redactedString() }

// GoString redacts the URL's password.
func (s SMTPConfig) GoString() string { return "config.SMTPConfig" + s.redactedString() }

// LogValue redacts the URL's password in log/slog output.
func (s SMTPConfig) LogValue() slog.Value { return slog.StringValue(s.redactedString()) }

// MarshalJSON redacts the URL's password.
func (s SMTPConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"url": s.redactedURL(), "from": s.From,
		"reset_link_lifetime": s.ResetLinkLifetime.String(), "verify_link_lifetime": s.VerifyLinkLifetime.String(),
		"key_expiry_warnings": s.KeyExpiryWarnings})
}

// validate checks the smtp settings; messages never repeat the URL.
func (s SMTPConfig) validate(bad func(setting, format string, args ...any)) {
	if s.URL != "" {
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			bad("smtp.url", "must be smtp://[user:password@]host[:port] or smtps://…")
		}
		if s.From == "" {
			bad("smtp.from", "is required when smtp.url is set")
		}
	}
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			bad("smtp.from", "must be an address like \"Latchkey <no-reply@example.com>\"")
		}
	}
	for _, l := range []struct {
		name string
		d    Duration
	}{{"smtp.reset_link_lifetime", s.ResetLinkLifetime}, {"smtp.verify_link_lifetime", s.VerifyLinkLifetime}} {
		if l.d.Duration() < minLinkLifetime || l.d.Duration() > maxLinkLifetime {
			bad(l.name, "must be between %s and %s, got %s", Duration(minLinkLifetime), Duration(maxLinkLifetime), l.d)
		}
	}
}
