// Package janitor removes what has expired: authorization codes, access and
// refresh tokens, PKCE/OIDC/PAR sessions and used JTIs past their expiry,
// previous client secrets past their rotation grace, API-key audit entries
// and usage counts older than their retention, and the records of which clients ended
// sign-in sessions reached. It works in small
// batches with a pause between them, so it never holds a table (or
// SQLite's single writer) for long, and it reports what it removed.
package janitor

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Store is what the janitor needs from storage.
type Store interface {
	PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (storage.Purged, error)
	PurgeKeyEvents(ctx context.Context, before time.Time, limit int) (int64, error)
	PurgeSessionClients(ctx context.Context, before time.Time, limit int) (int64, error)
	PurgeUsage(ctx context.Context, bucket string, before time.Time, limit int) (int64, error)
}

// Config tunes the janitor. Zero values take the defaults noted.
type Config struct {
	// Interval between passes (default 1 minute). The first pass runs
	// right after start-up.
	Interval time.Duration
	// Batch is the most rows one statement deletes (default 500).
	Batch int
	// Pause between batches of one pass (default 10 ms), so other writers
	// get the database in between.
	Pause time.Duration
	// AuditRetention is how long API-key audit entries are kept; 0 keeps
	// them forever.
	AuditRetention time.Duration
	// UsageRetention is how long the usage aggregate keeps its slots of
	// each bucket (storage.BucketHour, storage.BucketDay); a bucket not
	// named, or 0, is kept forever. Purged rows are reported as
	// "usage_counts_hour" and "usage_counts_day".
	UsageRetention map[string]time.Duration
	// SessionLifetime is the longest a browser sign-in session can live
	// (web.session_absolute_lifetime): the records of which clients a
	// session reached (for back-channel logout) are removed once they are
	// older than that, since their session has ended. 0 keeps them.
	SessionLifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives a summary of each pass that removed something
	// (info) and errors (warn).
	Logger *slog.Logger
	// OnPurged, if set, is called once per table and pass with the rows
	// removed (e.g. a metrics counter).
	OnPurged func(table string, n int64)
}

// Janitor runs purge passes.
type Janitor struct {
	cfg   Config
	store Store
}

// New returns a janitor over store.
func New(cfg Config, store Store) *Janitor {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Pause < 0 {
		cfg.Pause = 0
	} else if cfg.Pause == 0 {
		cfg.Pause = 10 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Janitor{cfg: cfg, store: store}
}

// Run purges once now and then every Interval until ctx ends.
func (j *Janitor) Run(ctx context.Context) {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.cfg.Logger.WarnContext(ctx, "janitor pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce runs one pass: it deletes batches until one removes nothing, and returns the rows removed by table. On an error it
// returns what it removed so far (also reported to OnPurged).
func (j *Janitor) RunOnce(ctx context.Context) (storage.Purged, error) {
	total := storage.Purged{}
	defer func() {
		if total.Total() == 0 {
			return
		}
		if j.cfg.OnPurged != nil {
			for table, n := range total {
				if n > 0 {
					j.cfg.OnPurged(table, n)
				}
			}
		}
		attrs := make([]any, 0, 2*len(total)+2)
		attrs = append(attrs, "rows", total.Total())
		for table, n := range total {
			if n > 0 {
				attrs = append(attrs, table, n)
			}
		}
		j.cfg.Logger.InfoContext(ctx, "janitor purged", attrs...)
	}()
	now := j.cfg.Now()
	for {
		p, err := j.store.PurgeExpired(ctx, now, j.cfg.Batch)
		total.Add(p)
		if err != nil {
			return total, err
		}
		if p.Total() == 0 {
			break
		}
		if err := j.pause(ctx); err != nil {
			return total, err
		}
	}
	if j.cfg.AuditRetention > 0 {
		if err := j.drain(ctx, total, "key_events", now.Add(-j.cfg.AuditRetention), j.store.PurgeKeyEvents); err != nil {
			return total, err
		}
	}
	for _, bucket := range []string{storage.BucketHour, storage.BucketDay} {
		keep := j.cfg.UsageRetention[bucket]
		if keep <= 0 {
			continue
		}
		purge := func(ctx context.Context, before time.Time, limit int) (int64, error) {
			return j.store.PurgeUsage(ctx, bucket, before, limit)
		}
		if err := j.drain(ctx, total, "usage_counts_"+bucket, now.Add(-keep), purge); err != nil {
			return total, err
		}
	}
	if j.cfg.SessionLifetime > 0 {
		if err := j.drain(ctx, total, "session_clients", now.Add(-j.cfg.SessionLifetime), j.store.PurgeSessionClients); err != nil {
			return total, err
		}
	}
	return total, nil
}

// drain calls purge with before until a call removes less than a batch,
// counting the rows under table in total.
func (j *Janitor) drain(ctx context.Context, total storage.Purged, table string, before time.Time,
	purge func(context.Context, time.Time, int) (int64, error)) error {
	for {
		n, err := purge(ctx, before, j.cfg.Batch)
		if n > 0 {
			total[table] += n
		}
		if err != nil {
			return err
		}
		if n < int64(j.cfg.Batch) {
			return nil
		}
		if err := j.pause(ctx); err != nil {
			return err
		}
	}
}

func (j *Janitor) pause(ctx context.Context) error {
	t := time.NewTimer(j.cfg.Pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
