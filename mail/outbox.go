package mail

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// outboxSize is how many messages an Outbox keeps.
const outboxSize = 50

// Outbox is the Sender used when no SMTP server is configured: each
// message is logged in full — its links included, which are secrets, so
// an Outbox is for development only — and the last few are kept for the
// /dev/mail page. It never fails.
type Outbox struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	msgs []Message
}

// NewOutbox returns an Outbox logging to log (nil = slog.Default) and
// stamping messages with now (nil = time.Now).
func NewOutbox(log *slog.Logger, now func() time.Time) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Outbox{log: log, now: now}
}

// Send implements Sender.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	m.At = o.now()
	o.mu.Lock()
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > outboxSize {
		o.msgs = slices.Delete(o.msgs, 0, len(o.msgs)-outboxSize)
	}
	o.mu.Unlock()
	o.log.InfoContext(ctx, "mail not sent: no smtp.url configured (development outbox, also at /dev/mail)",
		"to", m.To, "subject", m.Subject, "body", m.Text)
	return nil
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.msgs)
	slices.Reverse(out)
	return out
}
