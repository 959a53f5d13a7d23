package keys

import (
	"context"
	"errors"
	"fmt"
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
		s.verified(VerifyMalformed)
		return nil, ErrNotFound
	}
	digest, _ := s.cfg.Hasher.Digest([]byte(raw))
	k, ok, ticket := s.cache.Get(string(digest))
	if !ok {
		var err error
		k, err = s.store.GetAPIKeyByDigest(ctx, digest)
		if errors.Is(err, storage.ErrNotFound) {
			k = nil
		} else if err != nil {
			s.verified(VerifyError)
			return nil, err
		}
		s.cache.Put(string(digest), k, ticket)
	}
	if k == nil {
		s.verified(VerifyNotFound)
		return nil, ErrNotFound
	}
	now := s.cfg.Now()
	switch Status(k, now) {
	case StatusRevoked:
		s.verified(VerifyRevoked)
		// A revoked key still in use is a security event: counted per key
		// (the operator's overview lists them), never a write per attempt.
		s.usage.count(storage.UsageKey, k.ID, storage.OutcomeRevoked, now)
		return k, ErrRevoked
	case StatusExpired:
		s.verified(VerifyExpired)
		return k, ErrExpired
	}
	s.verified(VerifyValid)
	if audit, dropped := s.usage.record(k.ID, now, ip); audit {
		detail := "first use from this address"
		if dropped > 0 {
			detail += fmt.Sprintf("; %d more new addresses before it were not recorded (at most %d a minute)", dropped, s.cfg.NewIPEventsPerMinute)
		}
		s.Audit(ctx, k, "new_ip", ip, detail)
	}
	return k, nil
}

// Current returns the key with id as it is now, for a credential derived
// from it (an API token), on each use: through the verification cache,
// which revocation, rotation and PATCH invalidate on every instance, so a
// change to the key reaches its tokens as fast as the key itself. Like
// Verify it returns the key together with ErrRevoked or ErrExpired when
// it may not be used, and ErrNotFound for an unknown id. It records no
// usage: the key was not presented.
func (s *Service) Current(ctx context.Context, id string) (*storage.APIKey, error) {
	var k *storage.APIKey
	ticket := s.cache.Ticket()
	if digest, known := s.ids.Get(id); known {
		c, hit, t := s.cache.Get(digest)
		if hit {
			k = c
		} else {
			ticket = t
		}
	}
	if k == nil {
		rec, err := s.store.GetAPIKey(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, err
		}
		k = rec
		s.ids.Add(id, string(k.Digest))
		s.cache.Put(string(k.Digest), k, ticket)
	}
	switch Status(k, s.cfg.Now()) {
	case StatusRevoked:
		return k, ErrRevoked
	case StatusExpired:
		return k, ErrExpired
	}
	return k, nil
}

// Verification results reported to Config.OnVerify.
const (
	VerifyValid     = "valid"
	VerifyMalformed = "malformed" // not shaped like a key, or a wrong checksum: no lookup was made
	VerifyNotFound  = "not_found"
	VerifyExpired   = "expired"
	VerifyRevoked   = "revoked"
	VerifyError     = "error" // the lookup failed (database unavailable)
)

func (s *Service) verified(result string) {
	if f := s.cfg.OnVerify; f != nil {
		f(result)
	}
}

// CacheStats reports how many verification lookups the cache has answered
// (hits) and how many went to the database (misses) since start-up.
func (s *Service) CacheStats() (hits, misses uint64) {
	st := s.cache.Stats()
	return st.Hits, st.Misses
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

// ExpiryWarning is how close to its expiry a working key counts as
// expiring soon: the key list flags it, and its owner is mailed once
// (package keywarn).
const ExpiryWarning = 7 * 24 * time.Hour

// ExpiresSoon reports whether k works at now and expires within
// ExpiryWarning.
func ExpiresSoon(k *storage.APIKey, now time.Time) bool {
	return Status(k, now) == StatusActive && k.ExpiresAt != nil && k.ExpiresAt.Sub(now) <= ExpiryWarning
}

// Introspect answers RFC 7662 introspection for an API key: ok is false
// when raw is not shaped like a key of this deployment; an unknown, expired
// or revoked key is {"active": false}. With Config.Rights, the answer adds
// the key's organization, tenants and kind as they are now (org_id,
// org_role, tenants, key_kind), its scope is the effective one, and a key
// whose rights are refused (owner left the organization, suspended) is
// {"active": false}.
func (s *Service) Introspect(ctx context.Context, raw string) (map[string]any, bool) {
	if !s.cfg.Format.Looks(raw) {
		return nil, false
	}
	k, err := s.Verify(ctx, raw, "")
	if err != nil {
		return map[string]any{"active": false}, true
	}
	scopes := k.Scopes
	var claims map[string]any
	if s.cfg.Rights != nil {
		// The key's rights now: refused (inactive) when its owner left its
		// organization or it or the owner is suspended.
		r, err := s.cfg.Rights(ctx, k)
		if err != nil {
			return map[string]any{"active": false}, true
		}
		scopes, claims = r.Scopes, r.IntrospectionClaims()
	}
	out := map[string]any{
		"active": true, "token_type": "api_key", "token_use": "api_key",
		"scope": strings.Join(scopes, " "), "sub": k.UserID, "key_id": k.ID,
		"iat": k.CreatedAt.Unix(), "environment": k.Environment, "tier": k.Tier,
	}
	for name, v := range claims {
		out[name] = v
	}
	if k.ExpiresAt != nil {
		out["exp"] = k.ExpiresAt.Unix()
	}
	return out, true
}
