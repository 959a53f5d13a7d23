package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/storage"
)

// Subscriber is an in-process cache the Listener keeps coherent with the
// other instances (storage.Subscriber).
type Subscriber = storage.Subscriber

// ListenerConfig configures a Listener. Zero durations take the defaults.
type ListenerConfig struct {
	// DSN is the database URL the store was opened with: its search_path
	// decides the channel. Without an application_name the connection is
	// named "latchkey-invalidation" (visible in pg_stat_activity).
	DSN    string
	Logger *slog.Logger
	// Heartbeat is how long the connection may stay silent before it is
	// pinged (default 250ms); with PingTimeout (default 500ms) it bounds
	// how long a silently broken connection goes unnoticed.
	Heartbeat   time.Duration
	PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, doubling from MinBackoff (default 100ms) to MaxBackoff
	// (default 5s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Listener receives the invalidations published by every instance sharing
// the database (PostgreSQL LISTEN on a dedicated connection) and hands them
// to its subscribers. While it is not connected its subscribers bypass
// their caches; it reconnects with backoff.
type Listener struct {
	cfg ListenerConfig
	log *slog.Logger

	mu        sync.Mutex // orders subscription, dispatch and state changes
	subs      []Subscriber
	listening bool
}

// NewListener returns a listener; call Run to start it.
func NewListener(cfg ListenerConfig) *Listener {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Heartbeat, 250*time.Millisecond)
	def(&cfg.PingTimeout, 500*time.Millisecond)
	def(&cfg.MinBackoff, 100*time.Millisecond)
	def(&cfg.MaxBackoff, 5*time.Second)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{cfg: cfg, log: log}
}

// Subscribe adds s and tells it at once whether the listener is connected
// (so a cache subscribed before Run is bypassed until the first LISTEN).
func (l *Listener) Subscribe(s Subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs = append(l.subs, s)
	s.SetListening(l.listening)
}

// Run listens until ctx is done, reconnecting whenever the connection is
// lost. Subscribers bypass their caches whenever it is not listening,
// including after Run returns.
func (l *Listener) Run(ctx context.Context) {
	backoff := l.cfg.MinBackoff
	for ctx.Err() == nil {
		conn, channel, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			l.log.Warn("cache invalidation listener cannot connect; caches bypassed until it does",
				"error", err, "retry_in", backoff.String())
			sleep(ctx, backoff)
			backoff = min(2*backoff, l.cfg.MaxBackoff)
			continue
		}
		l.setListening(true)
		l.log.Info("cache invalidation listener connected", "channel", channel)
		up := time.Now()
		err = l.listen(ctx, conn)
		l.setListening(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		l.log.Warn("cache invalidation listener lost its connection; caches flushed and bypassed until it reconnects",
			"error", err)
		if time.Since(up) > l.cfg.MaxBackoff {
			backoff = l.cfg.MinBackoff // it was healthy for a while: retry soon
		}
		sleep(ctx, backoff)
		backoff = min(2*backoff, l.cfg.MaxBackoff)
	}
	l.setListening(false)
}

// connect opens the dedicated connection and LISTENs on the channel of the
// schema its search_path resolves to (the same one the store publishes on).
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, string, error) {
	cfg, err := pgx.ParseConfig(l.cfg.DSN)
	if err != nil {
		return nil, "", fmt.Errorf("parse dsn: %w", err)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "latchkey-invalidation"
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, "", err
	}
	var schema string
	if err := conn.QueryRow(cctx, schemaQuery).Scan(&schema); err != nil {
		_ = conn.Close(context.Background())
		return nil, "", fmt.Errorf("current schema: %w", err)
	}
	channel := Channel(schema)
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	return conn, channel, nil
}

// listen dispatches notifications until the connection fails (or ctx is
// done). After Heartbeat without a notification it pings the connection,
// so a connection that died silently is noticed within Heartbeat +
// PingTimeout rather than at the next TCP timeout.
func (l *Listener) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.Heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.dispatch(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case conn.IsClosed() || !pgconn.Timeout(err):
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, l.cfg.PingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// dispatch applies one notification. A payload this version does not
// understand (a newer instance, or "*" sent by an operator) flushes every
// cache: something changed, and it cannot tell what.
func (l *Listener) dispatch(payload string) {
	inv, ok := decode(payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		if payload != flushPayload {
			l.log.Warn("cache invalidation listener: unknown notification; flushing every cache", "payload_bytes", len(payload))
		}
		for _, s := range l.subs {
			s.SetListening(false)
			s.SetListening(true)
		}
		return
	}
	for _, s := range l.subs {
		s.Invalidate(inv)
	}
}

func (l *Listener) setListening(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listening == ok {
		return
	}
	l.listening = ok
	for _, s := range l.subs {
		s.SetListening(ok)
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
