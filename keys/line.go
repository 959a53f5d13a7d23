package keys

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// ErrActive is returned by Delete for a key that still works: revoke it
// first.
var ErrActive = errors.New("keys: the key is active; revoke it before deleting it")

// maxLine bounds how many rotations back a line is followed.
const maxLine = 256

// Predecessors returns the keys k replaced by rotation, newest first (the
// key it was rotated from, the one that one was rotated from, …), as far
// as they still exist. A rotated-out key keeps working until its grace
// ends; the pages show it on its successor's row, not as a key of its own.
func (s *Service) Predecessors(ctx context.Context, k *storage.APIKey) ([]storage.APIKey, error) {
	var out []storage.APIKey
	for id := k.RotatedFrom; id != "" && len(out) < maxLine; {
		p, err := s.store.GetAPIKey(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		if p.UserID != k.UserID {
			break
		}
		out = append(out, *p)
		id = p.RotatedFrom
	}
	return out, nil
}

// revokeLine revokes k and the keys before it in its rotation line that
// still work in their grace period (every one of them when all is set,
// as Delete needs), in one transaction with the keys descending from each
// (by ParentKeyID); then drops them from the verification cache, deletes
// the tokens exchanged from them and records the audit events. A
// predecessor already expired stays expired. It returns the whole line:
// k as revoked, then its predecessors. A rotation of k racing the revoke
// is refused with ErrRotated: the handle names the new key now.
func (s *Service) revokeLine(ctx context.Context, k *storage.APIKey, ip string, all bool) ([]*storage.APIKey, error) {
	var line, newly []*storage.APIKey
	var below []storage.APIKey
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		line, newly, below = nil, nil, nil
		now := s.cfg.Now()
		id := k.ID
		for i := 0; id != "" && i <= maxLine; i++ {
			var cur *storage.APIKey
			revoke := false
			err := s.store.UpdateAPIKey(ctx, id, func(r *storage.APIKey) error {
				if i == 0 && r.ReplacedBy != "" && k.ReplacedBy == "" {
					return ErrRotated
				}
				if i > 0 && r.UserID != k.UserID {
					return storage.ErrNotFound
				}
				revoke = i == 0 || (r.RevokedAt == nil && (all || Status(r, now) == StatusActive))
				if revoke && r.RevokedAt == nil {
					at := now.UTC()
					r.RevokedAt = &at
				}
				cur = r
				return nil
			})
			if i > 0 && errors.Is(err, storage.ErrNotFound) {
				break // deleted, or not this user's: the line ends here
			}
			if err != nil {
				return err
			}
			line = append(line, cur)
			if revoke {
				newly = append(newly, cur)
				children, err := s.store.RevokeAPIKeysByParent(ctx, storage.KeyParent{KeyID: cur.ID})
				if err != nil {
					return err
				}
				below = append(below, children...)
			}
			id = cur.RotatedFrom
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	head := line[0]
	for i, r := range newly {
		s.cache.Invalidate(string(r.Digest))
		s.revokeTokens(ctx, r.ID)
		detail := ""
		if i > 0 {
			detail = "with the key that replaced it, " + head.Display
		}
		s.Audit(ctx, r, "revoked", ip, detail)
	}
	for i := range below {
		s.cache.Invalidate(string(below[i].Digest))
		s.Audit(ctx, &below[i], "revoked", ip, "with its parent "+head.Display)
	}
	return line, nil
}

// Delete removes the user's key once it no longer works — revoked or
// expired — on behalf of the credential a, together with the keys before
// it in its rotation line (revoked with it first, whatever of them still
// worked). The audit log stays; the handle is free for a new key. An
// active key is refused with ErrActive.
func (s *Service) Delete(ctx context.Context, userID, handle string, a Authority, ip string) error {
	k, err := s.target(ctx, userID, handle, a)
	if err != nil {
		return err
	}
	if Status(k, s.cfg.Now()) == StatusActive {
		return ErrActive
	}
	line, err := s.revokeLine(ctx, k, ip, true)
	if err != nil {
		return err
	}
	ids := make([]string, len(line))
	for i, r := range line {
		ids[i] = r.ID
	}
	if _, err := s.store.DeleteAPIKeys(ctx, userID, ids); err != nil {
		return err
	}
	for _, r := range line {
		s.Audit(ctx, r, "deleted", ip, "")
	}
	return nil
}

// Rotating reports when k's predecessor in grace stops working: the
// latest expiry among the rotated-out keys before k that still work at
// now; ok is false when none does.
func Rotating(preds []storage.APIKey, now time.Time) (until time.Time, ok bool) {
	for i := range preds {
		p := &preds[i]
		if Status(p, now) == StatusActive && p.ExpiresAt != nil && p.ExpiresAt.After(until) {
			until, ok = *p.ExpiresAt, true
		}
	}
	return until, ok
}
