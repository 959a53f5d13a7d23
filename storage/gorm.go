package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
	// users and clients are the read caches: the hot paths (client
	// authentication on every token and introspection request, the user
	// behind every session and key-authenticated call) then cost no query.
	users   *ttlcache.Cache[User]
	clients *ttlcache.Cache[Client]
	// onChange hears this process's own invalidations (OnChange).
	onChange atomic.Pointer[[]func(Invalidation)]
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

type txKey struct{}

// tx returns the transaction carried by ctx, if any.
func tx(ctx context.Context) *gorm.DB {
	if s, _ := ctx.Value(txKey{}).(*txState); s != nil {
		return s.db
	}
	return nil
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

// BeginTx implements Store. Nested calls reuse the outer transaction.
func (d *DB) BeginTx(ctx context.Context) (context.Context, error) {
	if tx(ctx) != nil {
		return ctx, nil
	}
	t := d.writer.WithContext(ctx).Begin()
	if t.Error != nil {
		return ctx, translate(t.Error)
	}
	return context.WithValue(ctx, txKey{}, &txState{db: t}), nil
}

// Commit implements Store.
func (d *DB) Commit(ctx context.Context) error {
	s, _ := ctx.Value(txKey{}).(*txState)
	if s == nil {
		return errors.New("storage: commit without transaction")
	}
	if err := s.db.Commit().Error; err != nil {
		return translate(err)
	}
	s.committed()
	return nil
}

// Rollback implements Store.
func (d *DB) Rollback(ctx context.Context) error {
	t := tx(ctx)
	if t == nil {
		return errors.New("storage: rollback without transaction")
	}
	if err := t.Rollback().Error; err != nil && !errors.Is(err, gorm.ErrInvalidTransaction) {
		return translate(err)
	}
	return nil
}

// InTx implements Store. Inside an existing transaction fn simply joins it.
func (d *DB) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if tx(ctx) != nil {
		return fn(ctx)
	}
	s := &txState{}
	err := d.writer.WithContext(ctx).Transaction(func(t *gorm.DB) error {
		s.db = t
		return fn(context.WithValue(ctx, txKey{}, s))
	})
	if err != nil {
		return translate(err)
	}
	s.committed()
	return nil
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

// CreateUser implements Users.
func (d *DB) CreateUser(ctx context.Context, u *User) error {
	now := d.now().UTC()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = u.CreatedAt.UTC() // SQLite compares times as text: store UTC only
	u.UpdatedAt = now
	return translate(d.w(ctx).Create(u).Error)
}

// GetUser implements Users.
func (d *DB) GetUser(ctx context.Context, id string) (*User, error) {
	inTx := tx(ctx) != nil
	var ticket ttlcache.Ticket
	if !inTx {
		u, ok, t := d.users.Get(id)
		if ok {
			return &u, nil
		}
		ticket = t
	}
	var u User
	if err := d.r(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	if !inTx {
		d.users.Put(id, u, ticket)
	}
	return &u, nil
}

// GetUserByUsername implements Users.
func (d *DB) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	if err := d.r(ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// EndSessions implements Users.
func (d *DB) EndSessions(ctx context.Context, userID string, at time.Time) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Model(&User{}).Where("id = ?", userID).
			Updates(map[string]any{"sessions_not_before": at.UTC(), "updated_at": d.now().UTC()})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("user %q: %w", userID, ErrNotFound)
		}
		return d.changed(ctx, Invalidation{Topic: TopicUser, ID: userID})
	})
}

// CreateClient implements Clients.
func (d *DB) CreateClient(ctx context.Context, c *Client) error {
	now := d.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.CreatedAt = c.CreatedAt.UTC() // SQLite compares times as text: store UTC only
	c.UpdatedAt = now
	return translate(d.w(ctx).Create(c).Error)
}

// GetClient implements Clients.
func (d *DB) GetClient(ctx context.Context, id string) (*Client, error) {
	inTx := tx(ctx) != nil
	var ticket ttlcache.Ticket
	if !inTx {
		c, ok, t := d.clients.Get(id)
		if ok {
			c.RedirectURIs, c.GrantTypes, c.ResponseTypes = slices.Clone(c.RedirectURIs), slices.Clone(c.GrantTypes), slices.Clone(c.ResponseTypes)
			c.Scopes, c.Audience, c.SecretDigest = slices.Clone(c.Scopes), slices.Clone(c.Audience), slices.Clone(c.SecretDigest)
			return &c, nil
		}
		ticket = t
	}
	var c Client
	if err := d.r(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(err)
	}
	if !inTx {
		d.clients.Put(id, c, ticket)
	}
	return &c, nil
}

// UpdateClient implements Clients.
func (d *DB) UpdateClient(ctx context.Context, id string, fn func(*Client) error) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		var c Client
		if err := d.w(ctx).Clauses(lockForUpdate(d.w(ctx))...).Where("id = ?", id).Take(&c).Error; err != nil {
			return translate(err)
		}
		if err := fn(&c); err != nil {
			return err
		}
		c.ID = id
		c.CreatedAt = c.CreatedAt.UTC()
		c.UpdatedAt = d.now().UTC()
		if err := d.w(ctx).Save(&c).Error; err != nil {
			return translate(err)
		}
		return d.changed(ctx, Invalidation{Topic: TopicClient, ID: id})
	})
}

// DeleteClient implements Clients.
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	return d.InTx(ctx, func(ctx context.Context) error {
		res := d.w(ctx).Where("id = ?", id).Delete(&Client{})
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		if err := d.w(ctx).Where("client_id = ?", id).Delete(&Request{}).Error; err != nil {
			return translate(err)
		}
		if err := d.w(ctx).Where("client_id = ?", id).Delete(&Consent{}).Error; err != nil {
			return translate(err)
		}
		if _, err := d.RevokeAPIKeysByParent(ctx, KeyParent{ClientID: id}); err != nil {
			return err
		}
		return d.changed(ctx, Invalidation{Topic: TopicClient, ID: id})
	})
}

// ListClientsByOwner implements Clients.
func (d *DB) ListClientsByOwner(ctx context.Context, ownerID string) ([]Client, error) {
	var cs []Client
	err := d.r(ctx).Where("owner_id = ?", ownerID).Order("created_at, id").Find(&cs).Error
	return cs, translate(err)
}

// lockForUpdate returns a row-lock clause where the dialect has one.
// SQLite serialises writers already and has no FOR UPDATE.
func lockForUpdate(db *gorm.DB) []clause.Expression {
	if db.Dialector.Name() == "postgres" {
		return []clause.Expression{clause.Locking{Strength: "UPDATE"}}
	}
	return nil
}
