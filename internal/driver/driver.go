// Package driver opens the storage a configuration names: PostgreSQL
// (with its cache-invalidation listener) when storage.dsn is a
// postgres:// URL, else SQLite. It is the one place that chooses a
// concrete database driver, for cmd/latchkey and the tests that start a
// server the way the binary does; server.Build receives what it opens.
package driver

import (
	"log/slog"

	"github.com/latchkey/latchkey/config"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/postgres"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// Open opens the configured database with users and clients cached for
// storage.cache_ttl, and its invalidation bus — the LISTEN/NOTIFY listener
// on PostgreSQL, the invalidation-log poller on SQLite — which
// server.Build subscribes the caches to and App.Run runs. Its
// signature is server.OpenStorage.
func Open(cfg *config.Config, log *slog.Logger) (*storage.DB, storage.Bus, error) {
	cache := storage.WithReadCache(cfg.ResolvedCacheTTL())
	if cfg.IsPostgres() {
		db, err := postgres.Open(cfg.Storage.DSN, cfg.Storage.MaxOpenConns, cache)
		if err != nil {
			return nil, nil, err
		}
		return db, postgres.NewListener(postgres.ListenerConfig{DSN: cfg.Storage.DSN, Logger: log}), nil
	}
	db, poller, err := sqlite.OpenWithBus(cfg.ResolvedDSN(), sqlite.Config{
		Readers: cfg.Storage.MaxOpenConns, PageCacheMiB: cfg.Storage.SQLitePageCacheMiB, Logger: log}, cache)
	if err != nil {
		return nil, nil, err
	}
	return db, poller, nil
}
