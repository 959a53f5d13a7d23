package storage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// Prepared statements for the hottest writes.
//
// GORM builds each statement afresh (reflection over the model, clause
// building) and the drivers prepare it afresh: for a client_credentials
// token that was a fifth of the server's CPU, and on SQLite all of it runs
// while the request holds the one writer (see groupCommit), so every
// concurrent token waits for it. The statements here are prepared once per
// connection of the writer pool and reused by every request and every
// transaction on that connection (database/sql's Tx.StmtContext finds the
// statement already prepared there).
type prepared struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns query prepared on the writer pool, preparing it when
// needed — except inside a transaction (inTx), where it returns nil if the
// statement is not prepared yet: preparing on the pool would wait for a
// free connection, and SQLite's writer pool has one, which the
// transaction holds. The lock is never held while preparing, for the same
// reason.
func (d *DB) stmt(ctx context.Context, query string, inTx bool) (*sql.Stmt, error) {
	d.prep.mu.Lock()
	s := d.prep.m[query]
	d.prep.mu.Unlock()
	if s != nil || inTx {
		return s, nil
	}
	pool, err := d.writer.DB()
	if err != nil {
		return nil, err
	}
	s, err = pool.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	d.prep.mu.Lock()
	defer d.prep.mu.Unlock()
	if old := d.prep.m[query]; old != nil {
		_ = s.Close()
		return old, nil
	}
	if d.prep.m == nil {
		d.prep.m = map[string]*sql.Stmt{}
	}
	d.prep.m[query] = s
	return s, nil
}

// prepareHot prepares the statements every write transaction of a loaded
// server runs (CreateRequest's INSERT, group commit's savepoints), outside
// any transaction; groupCommit calls it before it opens a batch until it
// succeeds (it fails before the schema is migrated).
func (d *DB) prepareHot(ctx context.Context) bool {
	for _, q := range []string{d.insertRequest, "SAVEPOINT " + savepoint, "RELEASE SAVEPOINT " + savepoint, "ROLLBACK TO SAVEPOINT " + savepoint} {
		if _, err := d.stmt(ctx, q, false); err != nil {
			return false
		}
	}
	return true
}

// execPrepared runs query (a statement of the writer's dialect, see
// bindVars) with args as a prepared statement: inside ctx's transaction
// when there is one — with the transaction's context, so that a group
// commit member's statement is not interrupted by its request's
// cancellation —, else on the writer pool. Errors are translated like
// GORM's (ErrConflict for a unique violation).
func (d *DB) execPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := d.execPreparedOn(ctx, tx(ctx), query, args...)
	return res, d.translateDriver(err)
}

// execPreparedOn is execPrepared on the transaction t (nil: the pool),
// without error translation. In a transaction a statement not prepared
// yet runs unprepared (see stmt).
func (d *DB) execPreparedOn(ctx context.Context, t *gorm.DB, query string, args ...any) (sql.Result, error) {
	st, err := d.stmt(ctx, query, t != nil)
	if err != nil {
		return nil, err
	}
	d.observed(query)
	if t == nil {
		return st.ExecContext(ctx, args...)
	}
	txCtx := t.Statement.Context
	if txCtx == nil {
		txCtx = ctx
	}
	sqlTx, ok := t.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return nil, fmt.Errorf("storage: transaction of type %T cannot run prepared statements", t.Statement.ConnPool)
	}
	if st == nil || t.Config != d.writer.Config {
		// Not prepared yet, or a transaction of another DB (whose pool
		// st does not belong to).
		return sqlTx.ExecContext(txCtx, query, args...)
	}
	return sqlTx.StmtContext(txCtx, st).ExecContext(txCtx, args...)
}

// translateDriver maps a driver error as GORM's TranslateError does (a
// unique violation to gorm.ErrDuplicatedKey), then onto the sentinels.
func (d *DB) translateDriver(err error) error {
	if err == nil {
		return nil
	}
	if t, ok := d.writer.Dialector.(gorm.ErrorTranslator); ok {
		err = t.Translate(err)
	}
	return translate(err)
}

// closePrepared closes the prepared statements (Close).
func (d *DB) closePrepared() {
	d.prep.mu.Lock()
	defer d.prep.mu.Unlock()
	for q, s := range d.prep.m {
		_ = s.Close()
		delete(d.prep.m, q)
	}
}

// bindVars returns n bind variables for the writer's dialect, comma
// separated: $1, $2, … on PostgreSQL, ?, ?, … on SQLite.
func (d *DB) bindVars(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if d.writer.Dialector.Name() == "postgres" {
			fmt.Fprintf(&b, "$%d", i+1)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// ObserveWrites has fn called with the verb (INSERT, UPDATE, DELETE,
// SAVEPOINT, …) and table ("" when none is named) of every statement the
// writer runs from now on other than SELECT, whether through GORM or
// prepared (execPrepared): for tests that pin what a flow writes. fn runs
// on the writer's path; call it once per DB.
func (d *DB) ObserveWrites(fn func(verb, table string)) error {
	d.observe.Store(&fn)
	seen := func(db *gorm.DB) {
		verb, table := statementTarget(db.Statement.SQL.String())
		if verb == "" || verb == "SELECT" {
			return
		}
		fn(verb, cmp.Or(db.Statement.Table, table))
	}
	cb := d.writer.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("storage:observe_writes", seen),
		cb.Update().After("gorm:update").Register("storage:observe_writes", seen),
		cb.Delete().After("gorm:delete").Register("storage:observe_writes", seen),
		cb.Raw().After("gorm:raw").Register("storage:observe_writes", seen),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// observed reports a prepared statement to ObserveWrites' fn, if any.
func (d *DB) observed(query string) {
	if fn := d.observe.Load(); fn != nil {
		(*fn)(statementTarget(query))
	}
}

// statementTarget returns the verb of an SQL statement, upper case, and
// the table an INSERT INTO, UPDATE or DELETE FROM names.
func statementTarget(query string) (verb, table string) {
	f := strings.Fields(query)
	if len(f) == 0 {
		return "", ""
	}
	verb = strings.ToUpper(f[0])
	i := 1
	switch verb {
	case "INSERT", "DELETE":
		i = 2 // INSERT INTO t, DELETE FROM t
	case "UPDATE":
	default:
		return verb, ""
	}
	if i < len(f) {
		table = strings.Trim(f[i], `"`+"`")
	}
	return verb, table
}
