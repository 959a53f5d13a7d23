package storage

import "github.com/latchkey/latchkey/internal/ttlcache"

// CacheStats counts the lookups a read cache answered (Hits) and those
// that went to the database (Misses).
type CacheStats = ttlcache.Stats

// CacheStats reports the user and client read caches' lookups since the DB
// was opened (zero when WithReadCache is off). Reads inside transactions
// bypass the caches and are not counted.
func (d *DB) CacheStats() (users, clients CacheStats) {
	return d.users.Stats(), d.clients.Stats()
}
