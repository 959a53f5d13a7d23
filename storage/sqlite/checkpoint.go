package sqlite

import (
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// Checkpoints off the writer's path.
//
// In WAL mode a commit appends pages to the write-ahead log, and a
// checkpoint copies them back into the database file. SQLite's automatic
// checkpoint runs inside the COMMIT that takes the log past 1,000 pages,
// on the committing connection — here the one writer, which under group
// commit every other write waits for: a checkpoint of ~4 MB (and its
// fsync) then stalled all writes. Instead a checkpointer with a connection
// of its own runs a PASSIVE checkpoint (sqlite.org/wal.html
// §"Checkpointing"; it never blocks the writer or readers) every
// checkpointEvery, and the writer's automatic checkpoint is kept only as a
// safety net, at writerAutoCheckpoint pages, should the checkpointer fall
// behind. Durability is unchanged: a commit is in the log either way.
// Measured (BENCHMARKS.md "Issue 16, closing"), on a noisy machine:
// client_credentials on SQLite +3–8 % in two A/B pairs against the
// writer's own checkpoints; a first cut without the safety net gave
// +17–29 % and p99 29–31 → 22–23 ms, and −15 % once.
const (
	checkpointEvery      = 100 * time.Millisecond
	writerAutoCheckpoint = 10000 // pages (~40 MB of log)
)

// checkpointer runs PASSIVE checkpoints on its own connection until Close.
type checkpointer struct {
	db    *sql.DB
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
	err   error
}

// startCheckpointer opens its connection with dsn (the writer's, without
// its transaction lock mode) and starts checkpointing every interval.
func startCheckpointer(dsn string, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: checkpointer: %w", err)
	}
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(every)
	return c, nil
}

func (c *checkpointer) run(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// A failure (SQLITE_BUSY while another checkpoint runs, say)
			// leaves the pages for the next tick or the writer's net.
			_, _ = c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// Close stops the checkpointer and closes its connection (once; later
// calls return the first's result); the last pages are checkpointed when
// the writer closes (SQLite does on the last close).
func (c *checkpointer) Close() error {
	c.close.Do(func() {
		close(c.stop)
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
