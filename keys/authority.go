package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Errors of the authority rule (Authority).
var (
	// ErrForbidden means the key is beyond the calling credential's
	// rights: it carries a scope the credential lacks, or outlives it. For
	// a credential that may not read keys it also stands for "no such
	// key", so the answer never tells which handles exist.
	ErrForbidden = errors.New("keys: the key is beyond the credential's rights")
	// ErrExpiryExtended means a credential other than the owner signed in
	// tried to lengthen a key's life: credentials can only shorten it.
	ErrExpiryExtended = errors.New("keys: a credential can only shorten a key's expiry")
	// ErrRotated means the key was already replaced by a rotation: a
	// rotated-out key is never changed or rotated again (a concurrent
	// rotation of the same key loses with this error).
	ErrRotated = errors.New("keys: the key was rotated")
	// ErrTierExceeded means a credential other than the owner signed in
	// asked for a key of a higher tier than its own (Authority.Tier).
	ErrTierExceeded = errors.New("keys: the tier is higher than the credential's")
	// ErrCredentialEnded means the API key behind the calling credential
	// was revoked, expired or deleted while the request ran: nothing it
	// creates or rotates may outlive it.
	ErrCredentialEnded = errors.New("keys: the credential's API key is no longer valid")
	// ErrOutOfReach means a credential bound to one place (Reach) asked
	// for a key that would reach beyond it: another organization, the
	// personal workspace from an organization key (or the reverse), or
	// tenants outside its narrowing.
	ErrOutOfReach = errors.New("keys: the key would reach beyond the credential's organization or tenants")
)

// Authority is what the credential behind a key request may do. It is
// the one home of the rule that the result of a key operation never
// exceeds the calling credential's rights (SPEC §3.3 "a key can never
// exceed its owner's rights", and the credential creating it):
//
//   - create: the key's scopes are a subset of Scopes, it expires no later
//     than ExpiresAt (no expiry asked for → ExpiresAt), and it records the
//     credential as its parent (KeyID, or GrantID and ClientID);
//   - rotate, update, revoke: the target key must be within the
//     credential (covers): every scope of it in Scopes and no later expiry
//     than ExpiresAt; else ErrForbidden — which a credential without
//     CanRead also gets for a handle that does not exist;
//   - update: only the owner signed in (Owner) may lengthen a key's life;
//   - create, rotate: the key's tier is no higher than the credential's
//     (tierFor, ErrTierExceeded), and the key behind the credential is
//     read again, locked, in the transaction that writes the new key
//     (creatorKey): if it was revoked or expired meanwhile the write is
//     refused (ErrCredentialEnded), so a create racing a revoke of its
//     parent never leaves a live child;
//   - every operation: the key stays within the credential's Reach — its
//     organization (or the personal workspace) and tenant narrowing; a
//     key out of reach is ErrNotFound to it, creating one ErrOutOfReach.
//
// The expiry bound (ExpiresAt) is the life of what the credential stands
// for, not of the bearer string: an API key's own expiry; for an API
// token, its key's expiry now (the token follows its key, and keys it
// creates record the key as parent and die with it); for an OAuth
// access token, the end of its grant (oauth.TokenInfo.GrantEndsAt: the
// token's own expiry without a refresh token, else the end of the
// refresh family; keys it creates are revoked with the grant too); none
// for the owner signed in.
//
// Reading (get, list) needs keys:read and shows every key of the owner
// without its secret; the caller checks that scope.
type Authority struct {
	// Scopes are the credential's rights now.
	Scopes []string
	// ExpiresAt is the credential's expiry bound (see above); nil = none
	// (the owner signed in, a key without expiry or a token of one, an
	// OAuth grant whose refresh family has no lifetime bound).
	ExpiresAt *time.Time
	// Owner is the owner signed in by session or password.
	Owner bool
	// CanRead is whether the credential may read keys (keys:read).
	CanRead bool
	// KeyID is the API key behind the credential: the key itself or the
	// key an API token was exchanged from. Keys it creates record it as
	// their parent and are revoked with it.
	KeyID string
	// GrantID and ClientID are the OAuth grant (request id) and client of
	// an access token; keys it creates are revoked when the grant is.
	GrantID, ClientID string
	// Tier is the tier of a credential without a key behind it (an OAuth
	// access token: its client's tier); "" = the default tier. A
	// credential with a key behind it (KeyID) has that key's tier, read
	// by the service. The owner signed in has no tier bound.
	Tier string
	// Reach is where the credential acts (SPEC §3.3a); nil for the owner
	// signed in, who manages every key of theirs.
	Reach *Reach
}

// Reach is the one place a credential other than the owner signed in
// acts in: an organization key or token acts in its organization only
// (narrowed to Tenants when set), a key or token outside organizations
// in the person's own workspace only. The keys it may see, change,
// rotate, revoke or create are the keys of that place (Covers): a key of
// another organization, of the personal workspace, or reaching tenants
// beyond the narrowing would give the credential a secret or rights it
// does not have.
type Reach struct {
	// OrgID is the organization ("" = outside organizations).
	OrgID string
	// Tenants is the credential's narrowing (nil = every tenant its
	// person reaches in OrgID).
	Tenants []string
}

// Covers reports whether k stays within r: same organization, and, for a
// narrowed credential, a workspace key of one of its tenants or a
// personal key narrowed to some of them. A nil Reach covers every key.
func (r *Reach) Covers(k *storage.APIKey) bool {
	switch {
	case r == nil:
		return true
	case k.OrgID != r.OrgID:
		return false
	case len(r.Tenants) == 0:
		return true
	case k.TenantID != "":
		return slices.Contains(r.Tenants, k.TenantID)
	}
	return len(k.Tenants) > 0 && subset(k.Tenants, r.Tenants)
}

// narrow applies r to a key being created for req (its owner and tenant
// narrowing already checked by orgOwner): ErrOutOfReach for another
// organization or a tenant outside r; a personal key asked for without
// narrowing by a narrowed credential gets the credential's.
func (r *Reach) narrow(orgID, tenantID string, tenants []string) ([]string, error) {
	switch {
	case r == nil:
		return tenants, nil
	case orgID != r.OrgID:
		return nil, ErrOutOfReach
	case len(r.Tenants) == 0:
		return tenants, nil
	case tenantID != "":
		if !slices.Contains(r.Tenants, tenantID) {
			return nil, ErrOutOfReach
		}
		return tenants, nil
	case len(tenants) == 0:
		return slices.Clone(r.Tenants), nil
	case !subset(tenants, r.Tenants):
		return nil, ErrOutOfReach
	}
	return tenants, nil
}

// OwnerAuthority is the authority of the owner signed in by session or
// password: every scope, no expiry, may read.
func OwnerAuthority(scopes []string) Authority {
	return Authority{Scopes: scopes, Owner: true, CanRead: true}
}

// covers reports whether k is within the credential: in its reach
// (Reach.Covers), every scope of k is one of a's, and k ends no later
// than a.
func (a Authority) covers(k *storage.APIKey) bool {
	if !a.Reach.Covers(k) {
		return false
	}
	for _, sc := range k.Scopes {
		if !slices.Contains(a.Scopes, sc) {
			return false
		}
	}
	if a.ExpiresAt != nil && (k.ExpiresAt == nil || k.ExpiresAt.After(*a.ExpiresAt)) {
		return false
	}
	return true
}

// clampExpiry returns the expiry of a key the credential creates: the
// requested one (nil = never), but never later than the credential's own.
func (a Authority) clampExpiry(requested *time.Time) *time.Time {
	if a.ExpiresAt == nil {
		return requested
	}
	if requested == nil || requested.After(*a.ExpiresAt) {
		e := a.ExpiresAt.UTC()
		return &e
	}
	return requested
}

// target returns the user's key by handle for a change by a: ErrNotFound
// when there is none (ErrForbidden for a credential that may not read
// keys, so the answer is the same as for a key it may not touch), and
// ErrForbidden when the key is beyond the credential.
func (s *Service) target(ctx context.Context, userID, handle string, a Authority) (*storage.APIKey, error) {
	k, err := s.Get(ctx, userID, handle)
	if err == nil && !a.Reach.Covers(k) {
		// A key out of the credential's reach is not there for it.
		k, err = nil, fmt.Errorf("%w: out of the credential's reach", ErrNotFound)
	}
	switch {
	case errors.Is(err, ErrNotFound) && !a.CanRead:
		return nil, fmt.Errorf("%w (or no such key)", ErrForbidden)
	case err != nil:
		return nil, err
	case !a.covers(k):
		if !a.CanRead {
			return nil, fmt.Errorf("%w (or no such key)", ErrForbidden)
		}
		return nil, ErrForbidden
	}
	return k, nil
}

// limitDescendants makes every key descending from parent no more than
// parent now: scopes narrowed to the parent's, expiry no later than the
// parent's (so children die when a rotated-out parent's grace ends). It
// runs inside the caller's transaction, after parent was changed.
func (s *Service) limitDescendants(ctx context.Context, parent *storage.APIKey) ([]*storage.APIKey, error) {
	children, err := s.store.ListAPIKeyChildren(ctx, parent.ID)
	if err != nil {
		return nil, err
	}
	var changed []*storage.APIKey
	for i := range children {
		c := &children[i]
		if subset(c.Scopes, parent.Scopes) && !later(c.ExpiresAt, parent.ExpiresAt) {
			continue
		}
		var upd *storage.APIKey
		err := s.store.UpdateAPIKey(ctx, c.ID, func(r *storage.APIKey) error {
			r.Scopes = intersect(r.Scopes, parent.Scopes)
			if later(r.ExpiresAt, parent.ExpiresAt) {
				e := *parent.ExpiresAt
				r.ExpiresAt = &e
			}
			upd = r
			return nil
		})
		if err != nil {
			return nil, err
		}
		below, err := s.limitDescendants(ctx, upd)
		if err != nil {
			return nil, err
		}
		changed = append(append(changed, upd), below...)
	}
	return changed, nil
}

// later reports whether expiry a ends after b (nil = never).
func later(a, b *time.Time) bool {
	if b == nil {
		return false
	}
	return a == nil || a.After(*b)
}

func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// tierRank orders tiers as config lists them (rate_limits.tiers, lowest
// first: free < pro < enterprise by default); a tier not listed ranks as
// the default tier, as the rate limiter treats it.
func (s *Service) tierRank(tier string) int {
	if i := slices.Index(s.cfg.Tiers, tier); i >= 0 {
		return i
	}
	return max(slices.Index(s.cfg.Tiers, s.cfg.DefaultTier), 0)
}

// tierFor returns the tier of a key the credential a creates, asked for
// as requested ("" = the default tier): the owner signed in may pick any;
// any other credential none higher than its own — the tier of creator,
// the key behind it, else a.Tier (ErrTierExceeded) — and when it asks
// for none its key gets the default tier, or its own if that is lower.
func (s *Service) tierFor(a Authority, creator *storage.APIKey, requested string) (string, error) {
	tier := requested
	if tier == "" {
		tier = s.cfg.DefaultTier
	}
	if a.Owner {
		return tier, nil
	}
	bound := a.Tier
	if creator != nil {
		bound = creator.Tier
	}
	if bound == "" {
		bound = s.cfg.DefaultTier
	}
	if s.tierRank(tier) <= s.tierRank(bound) {
		return tier, nil
	}
	if requested == "" {
		return bound, nil
	}
	return "", fmt.Errorf("%w: %q is above %q", ErrTierExceeded, requested, bound)
}

// creatorKey returns the API key behind the credential a (nil when there
// is none: the owner signed in, an OAuth grant's token), read inside the
// caller's transaction with its row locked (storage.APIKeys.LockAPIKey),
// so a revocation of it either comes first and is seen here
// (ErrCredentialEnded) or waits for the new key and then revokes it too.
func (s *Service) creatorKey(ctx context.Context, a Authority) (*storage.APIKey, error) {
	if a.KeyID == "" {
		return nil, nil
	}
	k, err := s.store.LockAPIKey(ctx, a.KeyID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, ErrCredentialEnded
	case err != nil:
		return nil, err
	case Status(k, s.cfg.Now()) != StatusActive:
		return nil, ErrCredentialEnded
	}
	return k, nil
}
