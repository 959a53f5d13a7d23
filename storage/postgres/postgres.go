// Package postgres opens Latchkey's PostgreSQL store, used when several
// instances share one database, and keeps their in-process caches coherent:
// every write that must invalidate a cache sends a NOTIFY inside its
// transaction, and a Listener on each instance applies it.
package postgres

import (
	"fmt"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/latchkey/latchkey/storage"
)

// Open connects to the PostgreSQL database named by dsn with a pool of at
// most maxOpen connections shared by reads and writes. Writes that must
// invalidate caches publish on the deployment's Channel; run a Listener
// with the same dsn to receive them.
func Open(dsn string, maxOpen int, opts ...storage.Option) (*storage.DB, error) {
	if maxOpen < 1 {
		maxOpen = 16
	}
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{
		TranslateError: true,
		Logger:         logger.Discard,
		NowFunc:        func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("postgres: pool: %w", err)
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	var schema string
	if err := db.Raw(schemaQuery).Scan(&schema).Error; err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("postgres: current schema: %w", err)
	}
	opts = append([]storage.Option{storage.WithPublisher(publisher(Channel(schema)))}, opts...)
	return storage.New(db, db, opts...), nil
}
