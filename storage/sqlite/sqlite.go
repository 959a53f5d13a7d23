// Package sqlite opens Latchkey's embedded SQLite database: WAL journal,
// a busy timeout, one writer connection and a pool of readers, so reads
// never queue behind a write.
package sqlite

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/storage"
)

// DefaultPageCacheMiB is the default budget of the readers' page caches,
// shared out evenly among them (Config.PageCacheMiB).
//
// Why a cache at all: SQLite's default, 2,000 KiB (~500 pages) per
// connection, no longer holds the upper levels of the api_keys table and
// digest index plus the pages random lookups touch once a million keys are
// stored: an uncached key verification then took 1.25× as long as with
// 1,000 keys stored (keys.BenchmarkVerifyStoredKeys/interleaved, two runs);
// with 16 MiB, 1.10-1.14×. Why a budget: each connection keeps its own
// cache (C memory, outside the Go soft limit), so 16 readers of 16 MiB
// could hold 256 MiB on a large database. The cache holds only pages that
// were read, so a small database costs nothing either way.
const DefaultPageCacheMiB = 32

// minReaderCacheKiB is the least cache a reader gets, SQLite's own default.
const minReaderCacheKiB = 2000

// readerCacheKiB shares budgetMiB out among readers, at least
// minReaderCacheKiB each.
func readerCacheKiB(budgetMiB, readers int) int {
	if budgetMiB <= 0 {
		budgetMiB = DefaultPageCacheMiB
	}
	return max(minReaderCacheKiB, budgetMiB<<10/max(readers, 1))
}

// Open opens (creating when needed) the SQLite file at path and returns a
// store with readers connections for reads and one connection for writes.
// Every write that invalidates a cached record also appends it to the
// invalidation log (migration 0012), which the Poller of every other
// process using the file reads (OpenWithBus). Write transactions are
// group-committed (storage.WithGroupCommit): the one writer commits many
// concurrent request transactions with one COMMIT; storage.WithoutGroupCommit
// among opts turns that off.
func Open(path string, readers int, opts ...storage.Option) (*storage.DB, error) {
	db, _, err := open(path, Config{Readers: readers}, opts)
	return db, err
}

// Config is how OpenWithBus opens a database; zero values take defaults.
type Config struct {
	// Readers is the number of read connections (0 = 4).
	Readers int
	// PageCacheMiB is the budget of all readers' page caches together
	// (0 = DefaultPageCacheMiB), shared out evenly, at least SQLite's
	// default of ~2 MiB each. The writer keeps SQLite's default.
	PageCacheMiB int
	// PollInterval is how often the Poller reads the invalidation log
	// (0 = DefaultPollInterval).
	PollInterval time.Duration
	// Logger receives the Poller's warnings (nil = slog.Default()).
	Logger *slog.Logger
}

// OpenWithBus is Open plus the database's invalidation bus: a Poller that
// reads, every c.PollInterval, what other processes wrote to the
// invalidation log, for the caches to subscribe to.
func OpenWithBus(path string, c Config, opts ...storage.Option) (*storage.DB, *Poller, error) {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	db, o, err := open(path, c, opts)
	if err != nil {
		return nil, nil, err
	}
	return db, &Poller{reader: o.reader, origin: o.origin, interval: c.PollInterval, log: c.Logger}, nil
}

type opened struct {
	reader *gorm.DB
	origin string
}

func open(path string, c Config, opts []storage.Option) (*storage.DB, opened, error) {
	readers := c.Readers
	if readers < 1 {
		readers = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, opened{}, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	writerDSN := "file:" + path + "?" + q.Encode() + "&_txlock=immediate"
	readerDSN := "file:" + path + "?" + q.Encode() + "&mode=ro" + fmt.Sprintf("&_cache_size=-%d", readerCacheKiB(c.PageCacheMiB, readers))

	cfg := &gorm.Config{TranslateError: true, Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }}
	writer, err := gorm.Open(sqlite.Open(writerDSN), cfg)
	if err != nil {
		return nil, opened{}, fmt.Errorf("sqlite: open writer: %w", err)
	}
	wdb, err := writer.DB()
	if err != nil {
		return nil, opened{}, fmt.Errorf("sqlite: writer pool: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	// Touch the database once so the file and WAL mode exist before readers open it read-only.
	if err := wdb.Ping(); err != nil {
		_ = wdb.Close()
		return nil, opened{}, fmt.Errorf("sqlite: %w", err)
	}
	// The checkpointer moves the log into the file (checkpoint.go); the
	// writer's own automatic checkpoint is only a safety net.
	if err := writer.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", writerAutoCheckpoint)).Error; err != nil {
		_ = wdb.Close()
		return nil, opened{}, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil && !os.IsNotExist(err) {
		_ = wdb.Close()
		return nil, opened{}, fmt.Errorf("sqlite: chmod: %w", err)
	}

	reader, err := gorm.Open(sqlite.Open(readerDSN), cfg)
	if err != nil {
		_ = wdb.Close()
		return nil, opened{}, fmt.Errorf("sqlite: open readers: %w", err)
	}
	rdb, err := reader.DB()
	if err != nil {
		_ = wdb.Close()
		return nil, opened{}, fmt.Errorf("sqlite: reader pool: %w", err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	ck, err := startCheckpointer("file:"+path+"?"+q.Encode(), checkpointEvery)
	if err != nil {
		_ = wdb.Close()
		_ = rdb.Close()
		return nil, opened{}, err
	}
	o := opened{reader: reader, origin: newOrigin()}
	opts = append([]storage.Option{storage.WithGroupCommit(0, 0)}, opts...)
	opts = append(opts, storage.WithPublisher(logPublisher(o.origin, time.Now)), storage.WithCloser(ck.Close))
	return storage.New(writer, reader, opts...), o, nil
}
