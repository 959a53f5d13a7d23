package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// Group commit of write transactions.
//
// Without it every write transaction on SQLite's single writer connection
// is BEGIN IMMEDIATE … COMMIT of its own: one client_credentials token is
// one transaction, and the server issues at most as many tokens per second
// as the one writer finishes transactions (a COMMIT appends the dirty pages
// of the table and its five indexes to the WAL and publishes them; with
// synchronous=NORMAL there is no fsync, so this is CPU and syscalls, not
// the disk).
//
// With it (WithGroupCommit) the writer connection runs one database
// transaction — a batch — that spans many request transactions. Each
// request transaction (BeginTx … Commit/Rollback, InTx, and the hot
// single-statement writes, see write) becomes a SAVEPOINT inside the batch:
//
//   - BeginTx waits for the writer (the lease: one request transaction at a
//     time runs statements, as before), opens the batch if none is open
//     (BEGIN), and sets SAVEPOINT latchkey_req — except for the batch's
//     first request, whose rollback is the batch's: an idle server runs
//     exactly the statements it ran without batching.
//   - Commit releases the savepoint (RELEASE SAVEPOINT) and hands the writer
//     on; it returns only once the batch has committed. So an acknowledged
//     write is in a committed database transaction, exactly as before: no
//     acknowledged token can be lost to a crash that would not have lost it
//     without batching.
//   - Rollback rolls back to the savepoint and releases it: the request's
//     statements are undone, the other requests of the batch are not
//     touched. A failing statement (a UNIQUE conflict, say) is therefore
//     one request's error only.
//   - Whoever finishes a request transaction while no other request waits
//     for the writer commits the batch (COMMIT) and wakes every request of
//     it. There is no artificial wait: a batch is whatever queued while the
//     previous requests ran, so an idle server commits each request at
//     once (no extra statement at all), and a loaded one commits many per COMMIT. A batch is also
//     committed when it holds maxBatch requests or is maxBatchAge old, so
//     its first request waits a bounded time and writers outside the group
//     (migrations, plain writes on the writer pool) get the connection.
//
// Everything a request does while it holds the writer delays every other
// write, so the statements that run for every token — the savepoints and
// CreateRequest's INSERT — are prepared once (prepared.go) instead of
// built by GORM and prepared by the driver each time (BENCHMARKS.md
// "Issue 16, round three": 170–175 → 142–144 µs of CPU per
// client_credentials token).
//
// If the database itself fails (COMMIT, or an error after which SQLite has
// rolled the whole transaction back: disk full, I/O error), every request
// of the batch gets the error and nothing of the batch is written; none of
// them was acknowledged. Statements run with the request's context values
// but without its cancellation: an interrupted write on SQLite rolls back
// the whole transaction, which would undo the other requests.
//
// Requests of one batch see each other's released writes (they run one
// after the other on one connection), which is the order they would have
// committed in without batching; other connections see nothing until the
// batch commits, and no request is acknowledged before that.
type groupCommit struct {
	d        *DB // its prepared statements
	writer   *gorm.DB
	maxBatch int
	maxAge   time.Duration
	// lease is held by the one request transaction that runs statements
	// on the writer (and by whoever commits a batch).
	lease chan struct{}
	// waiting counts requests blocked on lease: every one of them will
	// hold it later and finish, so a batch left open for them is always
	// committed by its last request.
	waiting atomic.Int64
	// cur is the open batch; only the lease holder touches it.
	cur *batch
	// prepared: the hot statements are prepared (prepareHot); lease holder only.
	prepared bool
	// stats, for tests and benchmarks.
	batches, members atomic.Int64
}

// batch is one database transaction holding many request transactions.
type batch struct {
	tx      *gorm.DB
	started time.Time
	n       int
	done    chan struct{} // closed once committed or failed
	err     error         // set before done is closed
}

// member is one request transaction inside a batch.
type member struct {
	g        *groupCommit
	b        *batch
	db       *gorm.DB
	first    bool // the batch's first request: no savepoint
	finished bool
}

// savepoint names the request transaction inside a batch. Request
// transactions never nest (a nested BeginTx or InTx joins the outer one),
// so one name serves.
const savepoint = "latchkey_req"

// Group commit defaults: a batch is committed when no request waits for
// the writer, when it holds maxBatch requests, or when it is maxAge old.
const (
	DefaultGroupCommitMaxBatch = 64
	DefaultGroupCommitMaxAge   = 2 * time.Millisecond
)

// WithGroupCommit batches concurrent write transactions into one database
// transaction each (see groupCommit): at most maxBatch requests (≤ 0: the
// default, 64) and at most maxAge (≤ 0: 2 ms) from the batch's first
// statement to its COMMIT. It pays where commits are serialised on one
// connection (SQLite); see BENCHMARKS.md for PostgreSQL.
func WithGroupCommit(maxBatch int, maxAge time.Duration) Option {
	return func(d *DB) {
		if maxBatch <= 0 {
			maxBatch = DefaultGroupCommitMaxBatch
		}
		if maxAge <= 0 {
			maxAge = DefaultGroupCommitMaxAge
		}
		d.group = &groupCommit{d: d, writer: d.writer, maxBatch: maxBatch, maxAge: maxAge, lease: make(chan struct{}, 1)}
	}
}

// WithoutGroupCommit turns group commit off: every write transaction
// commits on its own (for comparison, and where a backend opens with it on).
func WithoutGroupCommit() Option { return func(d *DB) { d.group = nil } }

// GroupCommitStats reports how many batches were committed (or failed) and
// how many request transactions they held; both are 0 without group commit.
func (d *DB) GroupCommitStats() (batches, requests int64) {
	if d.group == nil {
		return 0, 0
	}
	return d.group.batches.Load(), d.group.members.Load()
}

// begin starts a request transaction: it waits for the lease (not
// cancellable: a waiter that gave up could leave a batch open that nobody
// commits; the wait is bounded by maxBatch request transactions), joins or
// opens the batch, and sets the savepoint.
func (g *groupCommit) begin(ctx context.Context) (*member, error) {
	g.waiting.Add(1)
	g.lease <- struct{}{}
	g.waiting.Add(-1)
	if err := ctx.Err(); err != nil {
		g.handOn()
		return nil, err
	}
	if g.cur == nil {
		if !g.prepared {
			// The writer is free between batches: prepare there.
			g.prepared = g.d.prepareHot(ctx)
		}
		t := g.writer.WithContext(context.Background()).Begin()
		if t.Error != nil {
			<-g.lease
			return nil, translate(t.Error)
		}
		g.cur = &batch{tx: t, started: time.Now(), done: make(chan struct{})}
	}
	b := g.cur
	// The batch's first request needs no savepoint: undoing it is
	// undoing the batch, which holds nothing else yet.
	first := b.n == 0
	if !first {
		if err := g.exec(ctx, b, "SAVEPOINT "+savepoint); err != nil {
			g.fail(b, err)
			<-g.lease
			return nil, translate(err)
		}
	}
	b.n++
	g.members.Add(1)
	return &member{g: g, b: b, first: first, db: b.tx.WithContext(context.WithoutCancel(ctx))}, nil
}

// commit releases m's savepoint, hands the writer on (committing the batch
// when m is its last request) and waits until the batch has committed.
func (m *member) commit() error {
	if m.finished {
		return errors.New("storage: commit of a finished transaction")
	}
	m.finished = true
	g, b := m.g, m.b
	if !m.first {
		if err := g.exec(context.Background(), b, "RELEASE SAVEPOINT "+savepoint); err != nil {
			g.fail(b, err)
			<-g.lease
			return translate(err)
		}
	}
	g.handOn()
	<-b.done
	if b.err != nil {
		return fmt.Errorf("storage: group commit: %w", b.err)
	}
	return nil
}

// rollback undoes m's statements and hands the writer on; the other
// requests of the batch are unaffected.
func (m *member) rollback() error {
	if m.finished {
		return nil
	}
	m.finished = true
	g, b := m.g, m.b
	if m.first {
		// Nothing else is in the batch yet: roll it back whole.
		err := b.tx.Rollback().Error
		g.finish(b, errors.New("storage: rolled back"))
		<-g.lease
		return translate(err)
	}
	err := g.exec(context.Background(), b, "ROLLBACK TO SAVEPOINT "+savepoint)
	if err == nil {
		err = g.exec(context.Background(), b, "RELEASE SAVEPOINT "+savepoint)
	}
	if err != nil {
		// The database rolled the whole transaction back (SQLite does on
		// I/O errors, disk full, …): the batch is lost.
		g.fail(b, err)
		<-g.lease
		return translate(err)
	}
	g.handOn()
	return nil
}

// handOn is called by the lease holder when its request transaction is
// done: the batch stays open for the next waiting request unless it is
// full or old, else it is committed. Then the lease is released.
func (g *groupCommit) handOn() {
	b := g.cur
	if b != nil && (g.waiting.Load() == 0 || b.n >= g.maxBatch || time.Since(b.started) >= g.maxAge) {
		g.finish(b, b.tx.Commit().Error)
	}
	<-g.lease
}

// exec runs one of the savepoint statements in b, prepared once
// (prepared.go): they run for every request of every batch.
func (g *groupCommit) exec(ctx context.Context, b *batch, query string) error {
	_, err := g.d.execPreparedOn(ctx, b.tx, query)
	return err
}

// fail ends b after an error that lost its transaction.
func (g *groupCommit) fail(b *batch, err error) {
	_ = b.tx.Rollback().Error
	g.finish(b, err)
}

// finish closes b with err and wakes its requests; the lease holder calls it.
func (g *groupCommit) finish(b *batch, err error) {
	b.err = err
	g.cur = nil
	g.batches.Add(1)
	close(b.done)
}

// write runs fn as a transaction of its own when group commit is on and
// ctx carries none, so that single-statement writes on the hot paths
// (token records, JTIs) are batched too; otherwise fn runs as is (joining
// ctx's transaction, or auto-committing on the writer).
func (d *DB) write(ctx context.Context, fn func(ctx context.Context) error) error {
	if d.group != nil && tx(ctx) == nil {
		return d.InTx(ctx, fn)
	}
	return fn(ctx)
}
