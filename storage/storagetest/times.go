package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testTimesRoundTrip(t *testing.T, ctx context.Context, s storage.Store) {
	// Sub-second precision down to the microsecond survives every backend.
	created := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	expires := time.Date(2099, 12, 31, 23, 59, 59, 999999000, time.UTC)
	u := newUser("u1")
	u.CreatedAt = created
	must(t, s.CreateUser(ctx, u), "CreateUser")
	gu, err := s.GetUser(ctx, "u1")
	must(t, err, "GetUser")
	wantTime(t, "User.CreatedAt", gu.CreatedAt, created)

	c := newClient("c1", "u1")
	c.CreatedAt = created
	must(t, s.CreateClient(ctx, c), "CreateClient")
	gc, err := s.GetClient(ctx, "c1")
	must(t, err, "GetClient")
	wantTime(t, "Client.CreatedAt", gc.CreatedAt, created)

	r := newRequest(storage.KindAccess, "at", "g1", "c1", "u1", expires)
	r.RequestedAt = created
	createRequests(t, ctx, s, r)
	gr, err := s.GetRequest(ctx, storage.KindAccess, "at")
	must(t, err, "GetRequest")
	wantTime(t, "Request.RequestedAt", gr.RequestedAt, created)
	wantTime(t, "Request.ExpiresAt", gr.ExpiresAt, expires)

	// Nil, empty and one-element slices.
	c2 := &storage.Client{ID: "c2", Name: "Lists", Scopes: []string{}, Audience: []string{"only"}, GrantTypes: nil}
	must(t, s.CreateClient(ctx, c2), "CreateClient(c2)")
	gc2, err := s.GetClient(ctx, "c2")
	must(t, err, "GetClient(c2)")
	wantStrings(t, "empty Scopes", gc2.Scopes, nil)
	wantStrings(t, "one Audience", gc2.Audience, []string{"only"})
	wantStrings(t, "nil GrantTypes", gc2.GrantTypes, nil)
}

// testTimesAnyLocation stores times expressed in zones far from UTC: they are
// instants, so ordering, expiry and purging must follow the instant, not the
// wall-clock digits.
func testTimesAnyLocation(t *testing.T, ctx context.Context, s storage.Store) {
	east := time.FixedZone("UTC+14", 14*3600)
	west := time.FixedZone("UTC-12", -12*3600)
	now := time.Now().UTC().Truncate(time.Microsecond)

	// Still valid for an hour, written west of UTC (its digits look 11h old).
	valid := newRequest(storage.KindAccess, "valid", "g1", "c1", "alice", now.Add(time.Hour).In(west))
	// Expired an hour ago, written east of UTC (its digits look 13h ahead).
	stale := newRequest(storage.KindAccess, "stale", "g2", "c1", "alice", now.Add(-time.Hour).In(east))
	createRequests(t, ctx, s, valid, stale)

	got, err := s.GetRequest(ctx, storage.KindAccess, "valid")
	must(t, err, "GetRequest")
	wantTime(t, "ExpiresAt written in UTC-12", got.ExpiresAt, valid.ExpiresAt)

	_, err = s.PurgeExpired(ctx, now, 100)
	must(t, err, "PurgeExpired")
	wantState(t, ctx, s, storage.KindAccess, "valid", "active")
	wantState(t, ctx, s, storage.KindAccess, "stale", "missing")

	must(t, s.MarkJTI(ctx, "j-west", now.Add(time.Hour).In(west)), "MarkJTI")
	wantKnown(t, ctx, s, "j-west", true)
	must(t, s.MarkJTI(ctx, "j-east", now.Add(-time.Hour).In(east)), "MarkJTI")
	wantKnown(t, ctx, s, "j-east", false)

	// Oldest first by instant, whatever zone each was written in.
	older := newClient("older", "u1")
	older.CreatedAt = now.Add(-2 * time.Hour).In(east)
	newer := newClient("newer", "u1")
	newer.CreatedAt = now.Add(-time.Hour).In(west)
	must(t, s.CreateClient(ctx, newer), "CreateClient(newer)")
	must(t, s.CreateClient(ctx, older), "CreateClient(older)")
	cs, err := s.ListClientsByOwner(ctx, "u1")
	must(t, err, "ListClientsByOwner")
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	wantStrings(t, "ListClientsByOwner across zones", ids, []string{"older", "newer"})
}
