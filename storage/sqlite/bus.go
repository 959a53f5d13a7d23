package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/latchkey/latchkey/storage"
)

// Defaults of the invalidation log.
const (
	// DefaultPollInterval is how often a Poller reads the log: another
	// process's change (the CLI suspending a user, revoking a key) reaches
	// this process's caches within it.
	DefaultPollInterval = 200 * time.Millisecond
	// logRetention is how long a row stays in the log. A poller further
	// behind than this has been failing (and so bypassing its caches) or
	// notices the gap and flushes.
	logRetention = 10 * time.Minute
	// pruneEvery is how often a writer deletes rows older than logRetention.
	pruneEvery = time.Minute
	// pollBatch bounds the rows one query reads.
	pollBatch = 1000
)

// logRow is one row of invalidation_log (migration 0012).
type logRow struct {
	Seq      int64
	Topic    string
	RecordID string
	Origin   string
}

// newOrigin names one opened database handle, so a poller skips the rows
// its own process wrote (those caches were already invalidated after the
// commit, storage.DB.OnChange).
func newOrigin() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("sqlite: random origin: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// logPublisher appends each invalidation to invalidation_log inside the
// writing transaction, so it is visible to other processes when, and only
// if, that transaction commits — SQLite's counterpart of pg_notify. About
// once a minute it also deletes rows older than logRetention in the same
// transaction, keeping the log a few rows long.
func logPublisher(origin string, now func() time.Time) storage.Publisher {
	var lastPrune atomic.Int64
	return func(tx *gorm.DB, inv storage.Invalidation) error {
		t := now().UTC()
		if err := tx.Exec("INSERT INTO invalidation_log (topic, record_id, origin, created_at) VALUES (?, ?, ?, ?)",
			string(inv.Topic), inv.ID, origin, t).Error; err != nil {
			return fmt.Errorf("sqlite: invalidation log: %w", err)
		}
		if last := lastPrune.Load(); t.UnixNano()-last > int64(pruneEvery) && lastPrune.CompareAndSwap(last, t.UnixNano()) {
			if err := tx.Exec("DELETE FROM invalidation_log WHERE created_at < ?", t.Add(-logRetention)).Error; err != nil {
				return fmt.Errorf("sqlite: prune invalidation log: %w", err)
			}
		}
		return nil
	}
}

// Poller is the invalidation bus of a SQLite database (storage.Bus): it
// reads the rows other processes appended to invalidation_log since its
// last look, every interval, and hands each to its subscribers. Until its
// first successful read, and whenever a read fails, its subscribers bypass
// their caches (storage.Subscriber.SetListening), so a change it could not
// see never outlives an outage. A row with a topic this version does not
// know, or a gap in the sequence (rows pruned before it read them),
// flushes every cache.
type Poller struct {
	reader   *gorm.DB
	origin   string
	interval time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	subs      []storage.Subscriber
	listening bool
	last      int64
}

// Subscribe implements storage.Bus.
func (p *Poller) Subscribe(s storage.Subscriber) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subs = append(p.subs, s)
	s.SetListening(p.listening)
}

// Run implements storage.Bus: it polls until ctx is done.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	started := false
	for {
		var err error
		if !started {
			err = p.start(ctx)
			started = err == nil
		} else {
			err = p.poll(ctx)
		}
		if ctx.Err() != nil {
			p.setListening(false)
			return
		}
		if err != nil {
			if p.isListening() {
				p.log.Warn("cache invalidation poller: reading the log failed; caches bypassed until it succeeds", "err", err)
			}
			p.setListening(false)
		} else {
			p.setListening(true)
		}
		select {
		case <-ctx.Done():
			p.setListening(false)
			return
		case <-t.C:
		}
	}
}

// start reads where the log ends now: the caches are empty, so nothing
// before it matters.
func (p *Poller) start(ctx context.Context) error {
	var last int64
	if err := p.reader.WithContext(ctx).Raw("SELECT coalesce(max(seq), 0) FROM invalidation_log").Scan(&last).Error; err != nil {
		return err
	}
	p.mu.Lock()
	p.last = last
	p.mu.Unlock()
	return nil
}

// poll delivers every row after the last one seen.
func (p *Poller) poll(ctx context.Context) error {
	for {
		p.mu.Lock()
		last := p.last
		p.mu.Unlock()
		var rows []logRow
		if err := p.reader.WithContext(ctx).Raw(
			"SELECT seq, topic, record_id, origin FROM invalidation_log WHERE seq > ? ORDER BY seq LIMIT ?", last, pollBatch).
			Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		p.deliver(last, rows)
		if len(rows) < pollBatch {
			return nil
		}
	}
}

func (p *Poller) deliver(last int64, rows []logRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	flush := rows[0].Seq != last+1
	var invs []storage.Invalidation
	for _, r := range rows {
		if r.Origin == p.origin {
			continue
		}
		inv, ok := storage.ParseInvalidation(r.Topic + ":" + r.RecordID)
		if !ok {
			flush = true
			continue
		}
		invs = append(invs, inv)
	}
	p.last = rows[len(rows)-1].Seq
	for _, s := range p.subs {
		if flush {
			s.SetListening(false)
			s.SetListening(true)
			continue
		}
		for _, inv := range invs {
			s.Invalidate(inv)
		}
	}
}

func (p *Poller) isListening() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listening
}

func (p *Poller) setListening(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listening == ok {
		return
	}
	p.listening = ok
	for _, s := range p.subs {
		s.SetListening(ok)
	}
}
