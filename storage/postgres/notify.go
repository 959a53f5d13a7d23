package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"gorm.io/gorm"

	"github.com/latchkey/latchkey/storage"
)

// channelPrefix starts the NOTIFY channel of every Latchkey deployment.
const channelPrefix = "latchkey_inv_"

// schemaQuery names the schema a connection's search_path resolves to.
const schemaQuery = "SELECT coalesce(current_schema(), '')"

// flushPayload asks every instance to drop all its cached records, e.g.
// after rows were edited by hand: SELECT pg_notify('<channel>', '*').
const flushPayload = "*"

// Channel is the NOTIFY channel of the deployment whose tables live in
// schema. Channels are shared by a whole database, not per schema, so the
// name carries a hash of the schema: deployments in different schemas of
// one database never see each other's invalidations.
func Channel(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return channelPrefix + hex.EncodeToString(sum[:8])
}

// publisher sends each invalidation with pg_notify inside the writing
// transaction: PostgreSQL delivers it to every listener when, and only if,
// that transaction commits.
func publisher(channel string) storage.Publisher {
	return func(tx *gorm.DB, inv storage.Invalidation) error {
		if err := tx.Exec("SELECT pg_notify(?, ?)", channel, encode(inv)).Error; err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
		return nil
	}
}

// encode writes an invalidation as "<topic>:<id>" (ids are at most 64
// bytes, far below NOTIFY's 8000-byte payload limit).
func encode(inv storage.Invalidation) string { return inv.String() }

// decode reads what encode wrote; ok is false for anything else, including
// topics this version does not know.
func decode(payload string) (storage.Invalidation, bool) { return storage.ParseInvalidation(payload) }
