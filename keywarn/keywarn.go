// Package keywarn mails the owner of an API key that expires soon (within
// keys.ExpiryWarning, the rule the key list flags by): one mail per key,
// naming it and linking to its page, to owners with a verified email
// address. A pass claims a batch of keys in storage — the claim marks the
// key as warned in the same statement, so of several instances exactly
// one mails it — then sends; a mail that could not be sent is released
// for a later pass.
package keywarn

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/keys"
	"github.com/latchkey/latchkey/mail"
	"github.com/latchkey/latchkey/storage"
)

// Store is what the warner needs from storage.
type Store interface {
	ClaimExpiringAPIKeys(ctx context.Context, now, until time.Time, limit int) ([]storage.ExpiringKey, error)
	ReleaseExpiryWarning(ctx context.Context, keyID string) error
}

// Config tunes the warner. Zero values take the defaults noted.
type Config struct {
	// Sender delivers the mails (required).
	Sender mail.Sender
	// BaseURL is the server's public URL (server.issuer); a mail links to
	// BaseURL + "/keys/<handle>".
	BaseURL string
	// Interval between passes (default 1 minute). The first pass runs
	// right after start-up.
	Interval time.Duration
	// Batch is the most keys one pass mails about (default 100).
	Batch int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives a summary of each pass that mailed (info) and
	// failures (warn); neither names an address or a secret.
	Logger *slog.Logger
	// OnMail, if set, is called once per mail with whether it was sent
	// (e.g. a metrics counter).
	OnMail func(sent bool)
}

// sendTimeout bounds one mail, and releaseTimeout the release of a claim
// after a failure (or at shutdown).
const (
	sendTimeout    = time.Minute
	releaseTimeout = 5 * time.Second
)

// Warner runs warning passes.
type Warner struct {
	cfg      Config
	store    Store
	composer *mail.Composer
}

// New returns a warner over store.
func New(cfg Config, store Store) (*Warner, error) {
	if cfg.Sender == nil {
		return nil, fmt.Errorf("keywarn: no mail sender")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := mail.NewComposer()
	if err != nil {
		return nil, err
	}
	return &Warner{cfg: cfg, store: store, composer: c}, nil
}

// Run warns once now and then every Interval until ctx ends.
func (w *Warner) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.WarnContext(ctx, "key expiry warning pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims at most Batch keys expiring within keys.ExpiryWarning and
// mails each owner; it returns how many mails were sent. A mail that
// fails (or is not tried because ctx ended) is logged and its claim
// released, so a later pass tries again; only a failed claim is an error.
func (w *Warner) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	claimed, err := w.store.ClaimExpiringAPIKeys(ctx, now, now.Add(keys.ExpiryWarning), w.cfg.Batch)
	sent, failed := 0, 0
	for _, k := range claimed {
		serr := w.send(ctx, k, now)
		if serr != nil {
			failed++
			if ctx.Err() == nil {
				w.cfg.Logger.WarnContext(ctx, "key expiry warning not sent; retried on a later pass",
					"key_id", k.Key.ID, "user_id", k.Key.UserID, "error", serr)
			}
			w.release(ctx, k.Key.ID)
		} else {
			sent++
		}
		if w.cfg.OnMail != nil {
			w.cfg.OnMail(serr == nil)
		}
	}
	if sent > 0 || failed > 0 {
		w.cfg.Logger.InfoContext(ctx, "key expiry warnings", "sent", sent, "failed", failed)
	}
	if err != nil {
		return sent, fmt.Errorf("keywarn: %w", err)
	}
	return sent, nil
}

// mailData is what the key_expiry mail templates receive.
type mailData struct {
	Username, Handle, Alias, Prefix, Expires, In, Link, Site string
}

func (w *Warner) send(ctx context.Context, k storage.ExpiringKey, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exp := k.Key.ExpiresAt.UTC()
	m, err := w.composer.Compose("key_expiry", k.Email, mailData{
		Username: k.Username, Handle: k.Key.Handle, Alias: k.Key.Alias, Prefix: k.Key.Display,
		Expires: exp.Format("Mon, 2 Jan 2006 15:04 MST"), In: inWords(exp.Sub(now)),
		Link: w.cfg.BaseURL + "/keys/" + url.PathEscape(k.Key.Handle), Site: w.cfg.BaseURL,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	return w.cfg.Sender.Send(ctx, m)
}

// release undoes a claim, even after ctx ended (a shutdown mid-pass must
// not leave keys marked as warned that were never mailed).
func (w *Warner) release(ctx context.Context, keyID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := w.store.ReleaseExpiryWarning(ctx, keyID); err != nil {
		w.cfg.Logger.WarnContext(ctx, "key expiry warning: release failed; the key will not be mailed about",
			"key_id", keyID, "error", err)
	}
}

// inWords says how far off an expiry is: "in 3 days", "in 1 day",
// "in 5 hours", "in 1 hour", "within the hour".
func inWords(d time.Duration) string {
	switch days, hours := int(d/(24*time.Hour)), int(d/time.Hour); {
	case days >= 2:
		return fmt.Sprintf("in %d days", days)
	case days == 1:
		return "in 1 day"
	case hours >= 2:
		return fmt.Sprintf("in %d hours", hours)
	case hours == 1:
		return "in 1 hour"
	}
	return "within the hour"
}
