package keys

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/storage"
)

// Patch is a partial update (SPEC §3.3 PATCH /user/keys/{handle}).
type Patch struct {
	Alias     *string
	Scopes    []string // nil = unchanged; may only narrow
	ExpiresIn *time.Duration
	IP        string
}

// Update applies p to the user's key: alias, narrower scopes, expiry.
func (s *Service) Update(ctx context.Context, userID, handle string, p Patch) (*storage.APIKey, error) {
	k, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, err
	}
	var narrowed []string
	if p.Scopes != nil {
		if narrowed, err = s.ExpandScopes(p.Scopes); err != nil {
			return nil, err
		}
		for _, sc := range narrowed {
			if !slices.Contains(k.Scopes, sc) {
				return nil, fmt.Errorf("%w: scopes can only be narrowed; %q is not on the key", ErrScopeExceeded, sc)
			}
		}
	}
	if p.Alias != nil && len(*p.Alias) > 200 {
		return nil, fmt.Errorf("%w: alias is longer than 200 characters", ErrInvalid)
	}
	if p.ExpiresIn != nil && *p.ExpiresIn <= 0 {
		return nil, fmt.Errorf("%w: expires_in must be positive", ErrInvalid)
	}
	var out *storage.APIKey
	err = s.store.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
		if r.RevokedAt != nil {
			return ErrRevoked
		}
		if p.Alias != nil {
			r.Alias = *p.Alias
		}
		if p.Scopes != nil {
			r.Scopes = narrowed
		}
		if p.ExpiresIn != nil {
			exp := s.cfg.Now().UTC().Add(*p.ExpiresIn).Truncate(time.Second)
			r.ExpiresAt = &exp
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cache.Invalidate(string(k.Digest))
	s.Audit(ctx, out, "updated", p.IP, "")
	return out, nil
}

// Revoke revokes the user's key from the next request on.
func (s *Service) Revoke(ctx context.Context, userID, handle, ip string) (*storage.APIKey, error) {
	k, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, err
	}
	err = s.store.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
		if r.RevokedAt == nil {
			now := s.cfg.Now().UTC()
			r.RevokedAt = &now
		}
		k = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cache.Invalidate(string(k.Digest))
	s.revokeTokens(ctx, k.ID)
	s.Audit(ctx, k, "revoked", ip, "")
	return k, nil
}

// Rotate issues a new key inheriting scopes, tier, environment and expiry;
// the old key's expiry becomes min(original, now + grace), so grace 0
// retires it at once.
func (s *Service) Rotate(ctx context.Context, userID, handle string, grace time.Duration, ip string) (*storage.APIKey, string, error) {
	if grace < 0 || grace > 30*24*time.Hour {
		return nil, "", fmt.Errorf("%w: grace_seconds must be between 0 and 2592000", ErrInvalid)
	}
	old, err := s.Get(ctx, userID, handle)
	if err != nil {
		return nil, "", err
	}
	if old.RevokedAt != nil {
		return nil, "", ErrRevoked
	}
	now := s.cfg.Now().UTC()
	if old.ExpiresAt != nil && !now.Before(*old.ExpiresAt) {
		return nil, "", ErrExpired
	}
	fresh := &storage.APIKey{
		ID: uuid.NewString(), UserID: userID, Alias: old.Alias,
		Environment: old.Environment, Tier: old.Tier, Scopes: old.Scopes,
		ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID, CreatedAt: now,
	}
	plain, err := s.mint(fresh)
	if err != nil {
		return nil, "", err
	}
	retireAt := now.Add(grace)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		err := s.store.UpdateAPIKey(ctx, old.ID, func(r *storage.APIKey) error {
			if r.RevokedAt != nil {
				return ErrRevoked
			}
			// The handle moves to the new key; the old one keeps a dated handle.
			fresh.Handle = r.Handle
			r.Handle = retiredHandle(r.Handle, now)
			if r.ExpiresAt == nil || retireAt.Before(*r.ExpiresAt) {
				r.ExpiresAt = &retireAt
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.store.CreateAPIKey(ctx, fresh)
	})
	if err != nil {
		return nil, "", err
	}
	s.cache.Invalidate(string(old.Digest))
	if grace == 0 {
		s.revokeTokens(ctx, old.ID)
	}
	s.Audit(ctx, fresh, "rotated", ip, "replaces "+old.Display)
	return fresh, plain, nil
}

// retiredHandle renames a rotated-out key so the handle can move on.
func retiredHandle(h string, now time.Time) string {
	suffix := "~" + now.Format("20060102T150405")
	if len(h)+len(suffix) > 64 {
		h = h[:64-len(suffix)]
	}
	return h + suffix
}

func (s *Service) revokeTokens(ctx context.Context, keyID string) {
	if s.cfg.RevokeTokens != nil {
		_ = s.cfg.RevokeTokens(ctx, keyID)
	}
}

// Audit appends an event to the key's audit log (best effort: a failed
// write never fails the operation it records).
func (s *Service) Audit(ctx context.Context, k *storage.APIKey, typ, ip, detail string) {
	_ = s.store.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: k.ID, UserID: k.UserID, Type: typ, IP: ip, Detail: detail, At: s.cfg.Now()})
}
