package keys

import (
	"context"
	"errors"
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

// Update applies p to the user's key on behalf of the credential a:
// alias, narrower scopes, expiry. The key must be within a (see
// Authority); revoked, expired and rotated-out keys are refused
// (ErrRevoked, ErrExpired, ErrRotated), so a PATCH never revives a key;
// only the owner signed in may lengthen a key's life (ErrExpiryExtended);
// a new expiry beyond ExpiryWarning clears the "expires soon" mail mark.
// The key's descendants are narrowed with it (limitDescendants).
func (s *Service) Update(ctx context.Context, userID, handle string, a Authority, p Patch) (*storage.APIKey, error) {
	k, err := s.target(ctx, userID, handle, a)
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
		return nil, invalid("alias", "alias is longer than 200 characters")
	}
	if p.ExpiresIn != nil && *p.ExpiresIn <= 0 {
		return nil, invalid("expires_in", "expires_in must be positive")
	}
	var out *storage.APIKey
	var below []*storage.APIKey
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		err := s.store.UpdateAPIKey(ctx, k.ID, func(r *storage.APIKey) error {
			if err := changeable(r, s.cfg.Now()); err != nil {
				return err
			}
			if p.Alias != nil {
				r.Alias = *p.Alias
			}
			if p.Scopes != nil {
				r.Scopes = intersect(narrowed, r.Scopes)
			}
			if p.ExpiresIn != nil {
				exp := s.cfg.Now().UTC().Add(*p.ExpiresIn).Truncate(time.Second)
				if !a.Owner && r.ExpiresAt != nil && exp.After(*r.ExpiresAt) {
					return ErrExpiryExtended
				}
				r.ExpiresAt = &exp
				if exp.Sub(s.cfg.Now()) > ExpiryWarning {
					// Out of the warning window again: a later approach
					// mails the owner again.
					r.ExpiryWarnedAt = nil
				}
			}
			out = r
			return nil
		})
		if err != nil {
			return err
		}
		below, err = s.limitDescendants(ctx, out)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cache.Invalidate(string(k.Digest))
	s.Audit(ctx, out, "updated", p.IP, "")
	for _, d := range below {
		s.cache.Invalidate(string(d.Digest))
		s.Audit(ctx, d, "updated", p.IP, "narrowed with its parent "+out.Display)
	}
	return out, nil
}

// changeable refuses changes to a key that is revoked, expired or
// rotated out.
func changeable(k *storage.APIKey, now time.Time) error {
	switch {
	case k.RevokedAt != nil:
		return ErrRevoked
	case k.ReplacedBy != "":
		return ErrRotated
	case Status(k, now) == StatusExpired:
		return ErrExpired
	}
	return nil
}

// Revoke revokes the user's key on behalf of the credential a (the key
// must be within it, see Authority) from the next request on, together
// with the keys it replaced by rotation that still work in their grace
// period (one key, one line: revoking the current key must not leave its
// predecessor working), every key descending from them and the tokens
// exchanged from them (revokeLine).
func (s *Service) Revoke(ctx context.Context, userID, handle string, a Authority, ip string) (*storage.APIKey, error) {
	k, err := s.target(ctx, userID, handle, a)
	if err != nil {
		return nil, err
	}
	line, err := s.revokeLine(ctx, k, ip, false)
	if err != nil {
		return nil, err
	}
	return line[0], nil
}

// Rotate issues a new key inheriting scopes, tier, environment, expiry and
// lineage (but a credential other than the owner and the key itself
// becomes the new key's parent), on behalf of the credential a (the old
// key must be within it, and of no higher tier, see Authority); the old key's expiry becomes min(original, now +
// grace), so grace 0 retires it at once, and the keys it created are
// limited to that expiry too. The new key's parent key must still be
// valid when it is written (ErrCredentialEnded for the caller's own key,
// ErrRevoked for an inherited parent). A key is rotated at most once: a second or
// concurrent rotation of the same key gets ErrRotated.
func (s *Service) Rotate(ctx context.Context, userID, handle string, a Authority, grace time.Duration, ip string) (*storage.APIKey, string, error) {
	if grace < 0 || grace > 30*24*time.Hour {
		return nil, "", invalid("grace_seconds", "grace_seconds must be between 0 and 2592000")
	}
	old, err := s.target(ctx, userID, handle, a)
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now().UTC()
	if err := changeable(old, now); err != nil {
		return nil, "", err
	}
	fresh := &storage.APIKey{
		ID: uuid.NewString(), UserID: userID, Alias: old.Alias,
		Environment: old.Environment, Tier: old.Tier, Scopes: old.Scopes,
		ExpiresAt: old.ExpiresAt, RotatedFrom: old.ID, CreatedAt: now,
		ParentKeyID: old.ParentKeyID, ParentGrantID: old.ParentGrantID, ParentClientID: old.ParentClientID,
		OrgID: old.OrgID, TenantID: old.TenantID, Tenants: old.Tenants, CreatedBy: old.CreatedBy,
	}
	if !a.Owner && a.KeyID != old.ID {
		// Rotating is minting: the caller receives the new secret. A
		// credential rotating another key is the new key's parent, so
		// revoking it (or its grant) revokes what it rotated too.
		fresh.ParentKeyID, fresh.ParentGrantID, fresh.ParentClientID = a.KeyID, a.GrantID, a.ClientID
	}
	plain, err := s.mint(fresh)
	if err != nil {
		return nil, "", err
	}
	retireAt := now.Add(grace)
	var retired *storage.APIKey
	var below []*storage.APIKey
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		// The new key's parent key, locked before the old key (the order
		// a revocation locks them in): a revocation of it racing this
		// rotation either came first (refused here) or waits and revokes
		// the new key with it.
		if pid := fresh.ParentKeyID; pid != "" && pid != a.KeyID {
			p, err := s.store.LockAPIKey(ctx, pid)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				return ErrRevoked
			case err != nil:
				return err
			case Status(p, s.cfg.Now()) != StatusActive:
				return ErrRevoked
			}
		}
		creator, err := s.creatorKey(ctx, a)
		if err != nil {
			return err
		}
		err = s.store.UpdateAPIKey(ctx, old.ID, func(r *storage.APIKey) error {
			// Checked again under the row lock: of concurrent rotations
			// of one key exactly one gets here first.
			if err := changeable(r, now); err != nil {
				return err
			}
			// The new key inherits the row as it is now, not as looked up:
			// a PATCH may have narrowed it in between (or the owner
			// lengthened it beyond the credential).
			if !a.covers(r) {
				return ErrForbidden
			}
			// Rotating is minting: never into a tier above the caller's
			// (an organization key inheriting its organization's tier
			// keeps inheriting it).
			if r.Tier != "" || r.OrgID == "" {
				if _, err := s.tierFor(a, creator, r.Tier); err != nil {
					return err
				}
			}
			fresh.Alias, fresh.Scopes, fresh.ExpiresAt, fresh.Tier = r.Alias, r.Scopes, r.ExpiresAt, r.Tier
			fresh.Tenants = r.Tenants
			// The handle moves to the new key; the old one keeps a dated handle.
			fresh.Handle = r.Handle
			r.Handle = retiredHandle(r.Handle, r.ID, now)
			r.ReplacedBy = fresh.ID
			if r.ExpiresAt == nil || retireAt.Before(*r.ExpiresAt) {
				r.ExpiresAt = &retireAt
			}
			retired = r
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.createKey(ctx, fresh); err != nil {
			return err
		}
		below, err = s.limitDescendants(ctx, retired)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	s.cache.Invalidate(string(old.Digest))
	if grace == 0 {
		s.revokeTokens(ctx, old.ID)
	}
	s.Audit(ctx, fresh, "rotated", ip, "replaces "+old.Display)
	for _, d := range below {
		s.cache.Invalidate(string(d.Digest))
		s.Audit(ctx, d, "updated", ip, "limited to its rotated-out parent "+old.Display)
	}
	return fresh, plain, nil
}

// retiredHandle renames a rotated-out key so the handle can move on:
// <handle>~<time>-<first 8 characters of the key id>, unique even for
// several rotations within one second.
func retiredHandle(h, id string, now time.Time) string {
	suffix := "~" + now.Format("20060102T150405") + "-" + id[:min(8, len(id))]
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
