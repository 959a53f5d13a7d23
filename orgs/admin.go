package orgs

import (
	"context"
	"slices"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// The operations below are for instance administrators (`--admin`); the
// caller checks that the actor is one. They are recorded in the
// organization's audit log like members' actions.

// AdminList returns organizations by id, after the id after, at most limit.
func (s *Service) AdminList(ctx context.Context, after string, limit int) ([]storage.Organization, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	os, err := s.store.ListOrgs(ctx, after, limit)
	return os, translate(err)
}

// SuspendOrg suspends (on) or reinstates (off) an organization: while it
// is suspended every key and token of it is refused, on every instance
// within the invalidation delay.
func (s *Service) SuspendOrg(ctx context.Context, a Actor, orgID string, on bool) (*storage.Organization, error) {
	var out storage.Organization
	err := s.store.UpdateOrg(ctx, orgID, func(o *storage.Organization) error {
		switch {
		case on && o.SuspendedAt == nil:
			t := s.cfg.Now().UTC()
			o.SuspendedAt = &t
		case !on:
			o.SuspendedAt = nil
		}
		out = *o
		return nil
	})
	if err != nil {
		return nil, translate(err)
	}
	typ := "org.unsuspended"
	if on {
		typ = "org.suspended"
	}
	s.Record(ctx, orgID, a, typ, orgID, "by an instance administrator")
	return &out, nil
}

// SetTier sets the organization's rate-limit plan ("" = the deployment
// default), inherited by its keys and apps that set none.
func (s *Service) SetTier(ctx context.Context, a Actor, orgID, tier string) (*storage.Organization, error) {
	if tier != "" && !slices.Contains(s.cfg.Tiers, tier) {
		return nil, invalid("tier", "tier must be one of the configured tiers")
	}
	var out storage.Organization
	if err := s.store.UpdateOrg(ctx, orgID, func(o *storage.Organization) error { o.Tier = tier; out = *o; return nil }); err != nil {
		return nil, translate(err)
	}
	s.Record(ctx, orgID, a, "org.tier_changed", orgID, tier)
	return &out, nil
}

// SuspendUser suspends (on) or reinstates (off) a user: sign-in, sessions,
// keys and tokens of theirs are refused while suspended.
func (s *Service) SuspendUser(ctx context.Context, userID string, on bool) error {
	var at *time.Time
	if on {
		t := s.cfg.Now().UTC()
		at = &t
	}
	return translate(s.store.SetUserSuspended(ctx, userID, at))
}
