package storage

import (
	"context"
	"errors"
	"sync"

	"gorm.io/gorm"
)

type txKey struct{}

// tx returns the transaction carried by ctx, if any.
func tx(ctx context.Context) *gorm.DB {
	if s, _ := ctx.Value(txKey{}).(*txState); s != nil {
		return s.db
	}
	return nil
}

// InTransaction reports whether ctx carries a transaction (BeginTx,
// InTx). A cache in front of the store is bypassed inside one: the
// transaction may already have changed what the cache holds.
func InTransaction(ctx context.Context) bool { return tx(ctx) != nil }

// BeginTx implements Store. Nested calls reuse the outer transaction.
func (d *DB) BeginTx(ctx context.Context) (context.Context, error) {
	if tx(ctx) != nil {
		return ctx, nil
	}
	if d.group != nil {
		m, err := d.group.begin(ctx)
		if err != nil {
			return ctx, err
		}
		return context.WithValue(ctx, txKey{}, &txState{db: m.db, m: m}), nil
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
	if s.m != nil {
		if err := s.m.commit(); err != nil {
			return err
		}
		s.committed()
		return nil
	}
	if err := s.db.Commit().Error; err != nil {
		return translate(err)
	}
	s.committed()
	return nil
}

// Rollback implements Store. After Commit it does nothing.
func (d *DB) Rollback(ctx context.Context) error {
	s, _ := ctx.Value(txKey{}).(*txState)
	if s == nil {
		return errors.New("storage: rollback without transaction")
	}
	if s.m != nil {
		return s.m.rollback()
	}
	t := s.db
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
	if d.group != nil {
		return d.inGroupTx(ctx, fn)
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

// txState is the transaction carried in a context, with the functions to
// run once it has committed.
type txState struct {
	db *gorm.DB
	// m is the request transaction inside a group-commit batch, nil
	// without group commit.
	m     *member
	mu    sync.Mutex
	after []func()
}

// afterCommit runs fn when the transaction of ctx commits (never if it
// rolls back), or at once outside a transaction.
func afterCommit(ctx context.Context, fn func()) {
	s, _ := ctx.Value(txKey{}).(*txState)
	if s == nil {
		fn()
		return
	}
	s.mu.Lock()
	s.after = append(s.after, fn)
	s.mu.Unlock()
}

func (s *txState) committed() {
	s.mu.Lock()
	fns := s.after
	s.after = nil
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// inGroupTx is InTx under group commit; a panic in fn rolls back fn's
// statements and goes on.
func (d *DB) inGroupTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	m, err := d.group.begin(ctx)
	if err != nil {
		return err
	}
	s := &txState{db: m.db, m: m}
	defer func() {
		if p := recover(); p != nil {
			_ = m.rollback()
			panic(p)
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, s)); err != nil {
		_ = m.rollback()
		return translate(err)
	}
	if err := m.commit(); err != nil {
		return err
	}
	s.committed()
	return nil
}
