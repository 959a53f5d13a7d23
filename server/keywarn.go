package server

import (
	"github.com/latchkey/latchkey/keywarn"
	"github.com/latchkey/latchkey/mail"
)

// keyWarner is the "API key expires soon" mailer Run runs beside the
// janitor (on its interval and batch size), or nil when it is off: with
// smtp.key_expiry_warnings false, or with no smtp.url — the development
// outbox would only fill up with them.
func (a *App) keyWarner() (*keywarn.Warner, error) {
	if !a.cfg.SMTP.KeyExpiryWarnings {
		return nil, nil
	}
	if a.cfg.SMTP.URL == "" {
		a.log.Info("API key expiry warnings are not mailed: no smtp.url configured")
		return nil, nil
	}
	sender, err := mail.NewSMTP(a.cfg.SMTP.URL, a.cfg.SMTP.From)
	if err != nil {
		return nil, err
	}
	return keywarn.New(keywarn.Config{
		Sender:   sender,
		BaseURL:  a.cfg.Server.Issuer,
		Interval: a.cfg.Janitor.Interval.Duration(),
		Batch:    min(a.cfg.Janitor.BatchSize, 100), // one mail each: keep a pass short
		Logger:   a.log,
		OnMail:   a.metrics.KeyExpiryWarning,
	}, a.db)
}
