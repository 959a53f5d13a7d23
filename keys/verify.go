package keys

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Verify checks a presented key on the hot path: parse and checksum (no
// I/O for garbage) → HMAC digest → cache → one indexed query on a miss.
// It returns the key together with ErrExpired or ErrRevoked for keys that
// exist but may not be used, so callers can report the right code.
func (s *Service) Verify(ctx context.Context, raw string, ip string) (*storage.APIKey, error) {
	if _, err := s.cfg.Format.Parse(raw); err != nil {
		return nil, ErrNotFound
	}
	digest, _ := s.cfg.Hasher.Digest([]byte(raw))
	var k *storage.APIKey
	ok := false
	if !s.cfg.NoCache {
		k, ok = s.cache.get(digest)
	}
	if !ok {
		var err error
		k, err = s.store.GetAPIKeyByDigest(ctx, digest)
		if errors.Is(err, storage.ErrNotFound) {
			k = nil
		} else if err != nil {
			return nil, err
		}
		if !s.cfg.NoCache {
			s.cache.put(digest, k)
		}
	}
	if k == nil {
		return nil, ErrNotFound
	}
	now := s.cfg.Now()
	switch Status(k, now) {
	case StatusRevoked:
		return k, ErrRevoked
	case StatusExpired:
		return k, ErrExpired
	}
	if s.usage.record(k.ID, now, ip) {
		s.Audit(ctx, k, "new_ip", ip, "first use from this address")
	}
	return k, nil
}

// Key states reported by Status.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Status reports a key's state at now: revoked wins over expired.
func Status(k *storage.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// Introspect answers RFC 7662 introspection for an API key: ok is false
// when raw is not shaped like a key of this deployment; an unknown, expired
// or revoked key is {"active": false}.
func (s *Service) Introspect(ctx context.Context, raw string) (map[string]any, bool) {
	if !s.cfg.Format.Looks(raw) {
		return nil, false
	}
	k, err := s.Verify(ctx, raw, "")
	if err != nil {
		return map[string]any{"active": false}, true
	}
	out := map[string]any{
		"active": true, "token_type": "api_key", "token_use": "api_key",
		"scope": strings.Join(k.Scopes, " "), "sub": k.UserID, "key_id": k.ID,
		"iat": k.CreatedAt.Unix(), "environment": k.Environment, "tier": k.Tier,
	}
	if k.ExpiresAt != nil {
		out["exp"] = k.ExpiresAt.Unix()
	}
	return out, true
}
