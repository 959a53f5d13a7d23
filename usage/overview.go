package usage

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/storage"
)

// Overview spans: sign-ins by the day over OverviewSignInSpan; refusals,
// the busiest keys and clients and revoked keys still presented over
// OverviewSpan.
const (
	OverviewSpan       = 7 * 24 * time.Hour
	OverviewSignInSpan = 30 * 24 * time.Hour
	overviewTop        = 10
	overviewEvents     = 20
)

// Overview is the operator's overview of an instance: what it holds by
// state, sign-ins over time, refusals by reason, the busiest keys and
// clients, and recent security events.
type Overview struct {
	At    time.Time
	Stats storage.InstanceStats
	// SignIns is the instance's sign-ins, failed sign-ins and lock-out
	// refusals per day (SignInOutcomes).
	SignIns Series
	// Since is the start of the span of the lists below (OverviewSpan).
	Since time.Time
	// Refusals counts refused requests and sign-ins by reason.
	Refusals []Reason
	// BusiestKeys and BusiestClients have the most API requests.
	BusiestKeys, BusiestClients []Busy
	// RevokedKeyUses are revoked keys still presented, most uses first.
	RevokedKeyUses []Busy
	// NewIPUses are the latest first uses of a key from a new address.
	NewIPUses []KeyEvent
}

// Reason is a count of refusals of one kind.
type Reason struct {
	Reason, Label string
	Count         int64
}

// Busy is a key or client and its count over the span.
type Busy struct {
	ID string
	// Name is the key's handle or the client's name ("" when it no
	// longer exists); Owner the owner's username ("" when none).
	Name, Owner string
	Total       int64
}

// KeyEvent is an audit entry of a key, with the key and owner named.
type KeyEvent struct {
	At                      time.Time
	Type, KeyID, Key, Owner string
	IP, Detail              string
}

// OverviewStore is what the overview reads.
type OverviewStore interface {
	Store
	UsageOutcomes(ctx context.Context, subject string, from, to time.Time) ([]storage.UsageCount, error)
	BusiestSubjects(ctx context.Context, subject string, from, to time.Time, limit int, outcomes ...string) ([]storage.UsageTotal, error)
	InstanceStats(ctx context.Context, now time.Time) (storage.InstanceStats, error)
	RecentKeyEvents(ctx context.Context, types []string, limit int) ([]storage.KeyEvent, error)
	GetAPIKey(ctx context.Context, id string) (*storage.APIKey, error)
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// LoadOverview reads the overview at now: a dozen indexed queries over
// the aggregate and the counts, plus one lookup per named key, client
// and owner (at most a few dozen).
func LoadOverview(ctx context.Context, st OverviewStore, now time.Time) (*Overview, error) {
	o := &Overview{At: now.UTC()}
	var err error
	if o.Stats, err = st.InstanceStats(ctx, now); err != nil {
		return nil, err
	}
	if o.SignIns, err = Load(ctx, st, storage.UsageInstance, "", Last(storage.BucketDay, OverviewSignInSpan, now), SignInOutcomes); err != nil {
		return nil, err
	}
	span := Last(storage.BucketDay, OverviewSpan, now)
	o.Since = span.From
	sums := map[string]int64{}
	for _, subject := range []string{storage.UsageKey, storage.UsageClient, storage.UsageInstance} {
		rows, err := st.UsageOutcomes(ctx, subject, span.From, span.To)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			sums[r.Outcome] += r.Count
		}
	}
	for _, reason := range []string{storage.OutcomeRateLimited, storage.OutcomeScopeDenied, storage.OutcomeRevoked,
		storage.OutcomeSignInFailed, storage.OutcomeLockout} {
		o.Refusals = append(o.Refusals, Reason{Reason: reason, Label: refusalLabel(reason), Count: sums[reason]})
	}
	n := names{st: st, users: map[string]string{}}
	if o.BusiestKeys, err = n.busy(ctx, storage.UsageKey, span, RequestOutcomes); err != nil {
		return nil, err
	}
	if o.BusiestClients, err = n.busy(ctx, storage.UsageClient, span, RequestOutcomes); err != nil {
		return nil, err
	}
	if o.RevokedKeyUses, err = n.busy(ctx, storage.UsageKey, span, []string{storage.OutcomeRevoked}); err != nil {
		return nil, err
	}
	evs, err := st.RecentKeyEvents(ctx, []string{"new_ip"}, overviewEvents)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		key, _ := n.key(ctx, e.KeyID)
		o.NewIPUses = append(o.NewIPUses, KeyEvent{At: e.At, Type: e.Type, KeyID: e.KeyID, Key: key, Owner: n.user(ctx, e.UserID), IP: e.IP, Detail: e.Detail})
	}
	return o, nil
}

func refusalLabel(reason string) string {
	switch reason {
	case storage.OutcomeRateLimited:
		return "API requests refused by rate limit"
	case storage.OutcomeScopeDenied:
		return "API requests refused by scope"
	case storage.OutcomeRevoked:
		return "Revoked keys presented"
	case storage.OutcomeSignInFailed:
		return "Failed sign-ins"
	case storage.OutcomeLockout:
		return "Sign-ins refused while locked out"
	}
	return reason
}

// names resolves ids to handles, client names and usernames, once each.
type names struct {
	st    OverviewStore
	users map[string]string
}

func (n names) busy(ctx context.Context, subject string, r Range, outcomes []string) ([]Busy, error) {
	top, err := n.st.BusiestSubjects(ctx, subject, r.From, r.To, overviewTop, outcomes...)
	if err != nil {
		return nil, err
	}
	out := make([]Busy, 0, len(top))
	for _, t := range top {
		b := Busy{ID: t.SubjectID, Total: t.Total}
		if subject == storage.UsageKey {
			b.Name, b.Owner = n.key(ctx, t.SubjectID)
		} else if c, err := n.st.GetClient(ctx, t.SubjectID); err == nil {
			b.Name, b.Owner = c.Name, n.user(ctx, c.OwnerID)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// key names a key id: its handle and owner ("", "" once deleted).
func (n names) key(ctx context.Context, id string) (handle, owner string) {
	k, err := n.st.GetAPIKey(ctx, id)
	if err != nil {
		return "", ""
	}
	return k.Handle, n.user(ctx, k.UserID)
}

func (n names) user(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if u, ok := n.users[id]; ok {
		return u
	}
	name := ""
	if u, err := n.st.GetUser(ctx, id); err == nil {
		name = u.Username
	}
	n.users[id] = name
	return name
}
