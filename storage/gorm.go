package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/latchkey/latchkey/internal/ttlcache"
)

// DB implements Store over GORM. Writes and transactions go to the writer
// pool; plain reads go to the reader pool. For SQLite the writer is a single
// connection and the readers a pool over the same WAL database, so reads
// never queue behind a write; for PostgreSQL both are the same pool.
type DB struct {
	writer   *gorm.DB
	reader   *gorm.DB
	now      func() time.Time
	cacheTTL time.Duration
	publish  Publisher
	// group batches write transactions (WithGroupCommit); nil: off.
	group *groupCommit
	// closers run first in Close (WithCloser).
	closers []func() error
	// users and clients are the read caches: the hot paths (client
	// authentication on every token and introspection request, the user
	// behind every session and key-authenticated call) then cost no query.
	users   *ttlcache.Cache[User]
	clients *ttlcache.Cache[Client]
	// onChange hears this process's own invalidations (OnChange).
	onChange atomic.Pointer[[]func(Invalidation)]
	// prep holds the prepared hot writes (prepared.go); insertRequest is
	// CreateRequest's statement in the writer's dialect.
	prep          prepared
	insertRequest string
	// observe is ObserveWrites' fn, nil if none.
	observe atomic.Pointer[func(verb, table string)]
}

// readCacheMax bounds each read cache.
const readCacheMax = 50_000

// WithReadCache keeps users and clients read outside transactions for ttl
// (0 disables it). This process's writes invalidate at once; changes made
// by other instances are seen when their invalidation arrives (see
// WithPublisher and SetListening), at the latest within ttl.
func WithReadCache(ttl time.Duration) Option { return func(d *DB) { d.cacheTTL = ttl } }

var _ Store = (*DB)(nil)

// Option configures a DB.
type Option func(*DB)

// WithCloser has Close run fn before it closes the connection pools: a
// backend's own helpers (SQLite's checkpointer) end with the DB.
func WithCloser(fn func() error) Option {
	return func(d *DB) { d.closers = append(d.closers, fn) }
}

// WithClock injects the clock used for timestamps and expiry checks.
func WithClock(now func() time.Time) Option { return func(d *DB) { d.now = now } }

// New wraps already opened GORM handles. reader may equal writer.
func New(writer, reader *gorm.DB, opts ...Option) *DB {
	if reader == nil {
		reader = writer
	}
	d := &DB{writer: writer, reader: reader, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	d.insertRequest = "INSERT INTO requests (" + requestColumns + ") VALUES (" + d.bindVars(strings.Count(requestColumns, ",")+1) + ")"
	d.users = ttlcache.New[User](d.cacheTTL, readCacheMax, d.now)
	d.clients = ttlcache.New[Client](d.cacheTTL, readCacheMax, d.now)
	return d
}

// Writer exposes the write handle for backend-specific set-up and tests.
func (d *DB) Writer() *gorm.DB { return d.writer }

// Pools returns the connection pools by name, for monitoring: "writer"
// and "reader" when reads have a pool of their own (SQLite), else one
// pool named "primary" (PostgreSQL).
func (d *DB) Pools() (map[string]*sql.DB, error) {
	w, err := d.writer.DB()
	if err != nil {
		return nil, translate(err)
	}
	r, err := d.reader.DB()
	if err != nil {
		return nil, translate(err)
	}
	if w == r {
		return map[string]*sql.DB{"primary": w}, nil
	}
	return map[string]*sql.DB{"writer": w, "reader": r}, nil
}

// w returns the handle for writes: the context's transaction or the writer.
func (d *DB) w(ctx context.Context) *gorm.DB {
	if t := tx(ctx); t != nil {
		return t
	}
	return d.writer.WithContext(ctx)
}

// r returns the handle for reads: the context's transaction or the readers.
func (d *DB) r(ctx context.Context) *gorm.DB {
	if t := tx(ctx); t != nil {
		return t
	}
	return d.reader.WithContext(ctx)
}

// translate maps GORM and driver errors onto the sentinel errors, once, at
// this boundary.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInactive):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	default:
		return fmt.Errorf("storage: %w", err)
	}
}

// lockForUpdate returns a row-lock clause where the dialect has one.
// SQLite serialises writers already and has no FOR UPDATE.
func lockForUpdate(db *gorm.DB) []clause.Expression {
	if db.Dialector.Name() == "postgres" {
		return []clause.Expression{clause.Locking{Strength: "UPDATE"}}
	}
	return nil
}

// Ping implements Store.
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.writer.DB()
	if err != nil {
		return translate(err)
	}
	return translate(sqlDB.PingContext(ctx))
}

// Close implements Store.
func (d *DB) Close() error {
	var first error
	d.closePrepared()
	for _, c := range d.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	for _, g := range []*gorm.DB{d.reader, d.writer} {
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
