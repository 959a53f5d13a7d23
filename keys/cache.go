package keys

import (
	"encoding/hex"

	"github.com/latchkey/latchkey/internal/ttlcache"
	"github.com/latchkey/latchkey/storage"
)

// The verification cache maps a key's digest to its record for
// Config.CacheTTL, including negative entries (nil) for unknown keys, so a
// flood of made-up keys that pass the checksum costs one query per key per
// TTL. Revoke, rotate and update invalidate this process's entry
// explicitly; other instances learn of them through Invalidate.

// keyCacheMax bounds the verification cache.
const keyCacheMax = 100_000

func newCache(s *Service) *ttlcache.Cache[*storage.APIKey] {
	if s.cfg.NoCache {
		return nil // a nil cache stores nothing: every Verify queries the store
	}
	return ttlcache.New[*storage.APIKey](s.cfg.CacheTTL, keyCacheMax, s.cfg.Now)
}

// Invalidate drops the verification cache entry of an API key changed by
// another instance (storage.TopicAPIKey, the digest in hex); other topics
// are not cached here and are ignored. The cross-instance invalidation
// listener calls it.
func (s *Service) Invalidate(inv storage.Invalidation) {
	if inv.Topic != storage.TopicAPIKey {
		return
	}
	digest, err := hex.DecodeString(inv.ID)
	if err != nil {
		return
	}
	s.cache.Invalidate(string(digest))
}

// SetListening tells the verification cache whether invalidations from
// other instances are arriving: false drops every entry and bypasses the
// cache (each verification queries the database) until true.
func (s *Service) SetListening(ok bool) { s.cache.SetBypass(!ok) }
