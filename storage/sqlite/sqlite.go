// Package sqlite opens Latchkey's embedded SQLite database: WAL journal,
// a busy timeout, one writer connection and a pool of readers, so reads
// never queue behind a write.
package sqlite

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/storage"
)

// readerCacheKiB is each reader connection's page cache, in KiB. SQLite's
// default, 2,000 KiB (~500 pages), no longer holds the upper levels of the
// api_keys table and digest index plus the pages random lookups touch once
// a million keys are stored: an uncached key verification then took 1.25×
// as long as with 1,000 keys stored (keys.BenchmarkVerifyStoredKeys/
// interleaved, two runs); with 16 MiB, 1.10-1.14×. The cache holds only
// pages that were read, so a small database costs nothing; a large one at
// most readers × 16 MiB.
const readerCacheKiB = 16 << 10

// Open opens (creating when needed) the SQLite file at path and returns a
// store with readers connections for reads and one connection for writes.
// Write transactions are group-committed (storage.WithGroupCommit): the one
// writer commits many concurrent request transactions with one COMMIT;
// storage.WithoutGroupCommit among opts turns that off.
func Open(path string, readers int, opts ...storage.Option) (*storage.DB, error) {
	if readers < 1 {
		readers = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "NORMAL")
	writerDSN := "file:" + path + "?" + q.Encode() + "&_txlock=immediate"
	readerDSN := "file:" + path + "?" + q.Encode() + "&mode=ro" + fmt.Sprintf("&_cache_size=-%d", readerCacheKiB)

	cfg := &gorm.Config{TranslateError: true, Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }}
	writer, err := gorm.Open(sqlite.Open(writerDSN), cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	wdb, err := writer.DB()
	if err != nil {
		return nil, fmt.Errorf("sqlite: writer pool: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	// Touch the database once so the file and WAL mode exist before readers open it read-only.
	if err := wdb.Ping(); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil && !os.IsNotExist(err) {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: chmod: %w", err)
	}

	reader, err := gorm.Open(sqlite.Open(readerDSN), cfg)
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	rdb, err := reader.DB()
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: reader pool: %w", err)
	}
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	opts = append([]storage.Option{storage.WithGroupCommit(0, 0)}, opts...)
	return storage.New(writer, reader, opts...), nil
}
