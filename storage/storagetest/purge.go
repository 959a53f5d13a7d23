// Package storagetest is the storage conformance suite: one set of tests,
// written against the storage.Store contract, that every backend runs (the
// dex model). A backend's test calls Run with a function that opens a fresh,
// migrated, empty store and registers its clean-up with t.Cleanup.
//
// The open function takes no options, so the suite cannot inject a clock:
// tests that depend on expiry use explicit times far in the past or future.
package storagetest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
)

func testPurgeOnlyExpired(t *testing.T, ctx context.Context, s storage.Store) {
	old, later := past(), future()
	createRequests(t, ctx, s,
		newRequest(storage.KindCode, "old-code", "g1", "c1", "alice", old),
		newRequest(storage.KindAccess, "old-at", "g1", "c1", "alice", old),
		newRequest(storage.KindPAR, "old-par", "g2", "c1", "", old),
		newRequest(storage.KindAccess, "new-at", "g3", "c1", "alice", later),
		newRequest(storage.KindRefresh, "new-rt", "g3", "c1", "alice", later),
	)
	// Inactive but unexpired records are kept too: purging is by expiry only.
	must(t, s.DeactivateRequest(ctx, storage.KindRefresh, "new-rt"), "DeactivateRequest")
	must(t, s.MarkJTI(ctx, "old-j1", old), "MarkJTI")
	must(t, s.MarkJTI(ctx, "old-j2", old), "MarkJTI")
	must(t, s.MarkJTI(ctx, "new-j", later), "MarkJTI")

	p, err := s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "PurgeExpired")
	want := storage.Purged{"authorization_codes": 1, "access_tokens": 1, "par_requests": 1, "used_jtis": 2}
	if !maps.Equal(p, want) {
		t.Errorf("PurgeExpired = %v, want %v", p, want)
	}
	wantState(t, ctx, s, storage.KindCode, "old-code", "missing")
	wantState(t, ctx, s, storage.KindAccess, "old-at", "missing")
	wantState(t, ctx, s, storage.KindPAR, "old-par", "missing")
	wantState(t, ctx, s, storage.KindAccess, "new-at", "active")
	wantState(t, ctx, s, storage.KindRefresh, "new-rt", "inactive")
	wantKnown(t, ctx, s, "new-j", true)

	p, err = s.PurgeExpired(ctx, time.Now(), 100)
	must(t, err, "second PurgeExpired")
	if n := p.Total(); n != 0 {
		t.Errorf("second PurgeExpired = %d, want 0", n)
	}
}

func testPurgeLimit(t *testing.T, ctx context.Context, s storage.Store) {
	const expired, limit = 5, 2
	old := past()
	sigs := make([]string, expired)
	for i := range sigs {
		sigs[i] = fmt.Sprintf("old-%d", i)
		createRequests(t, ctx, s, newRequest(storage.KindAccess, sigs[i], "g1", "c1", "alice", old))
	}
	createRequests(t, ctx, s, newRequest(storage.KindAccess, "new", "g2", "c1", "alice", future()))
	remaining := func() int {
		t.Helper()
		left := 0
		for _, sig := range sigs {
			if requestState(t, ctx, s, storage.KindAccess, sig) != "missing" {
				left++
			}
		}
		return left
	}

	// Request records only: each call removes at most limit.
	for _, want := range []int64{2, 2, 1, 0} {
		before := remaining()
		p, err := s.PurgeExpired(ctx, time.Now(), limit)
		must(t, err, "PurgeExpired")
		n := p["access_tokens"]
		if n != want || p.Total() != want {
			t.Errorf("PurgeExpired(limit %d) with %d expired records = %d, want %d", limit, before, n, want)
		}
		if got := before - remaining(); int64(got) != n {
			t.Errorf("PurgeExpired reported %d but %d records went", n, got)
		}
	}
	wantState(t, ctx, s, storage.KindAccess, "new", "active")

	// JTIs only: the same limit applies.
	for i := range expired {
		must(t, s.MarkJTI(ctx, fmt.Sprintf("old-j%d", i), old), "MarkJTI")
	}
	must(t, s.MarkJTI(ctx, "new-j", future()), "MarkJTI")
	for _, want := range []int64{2, 2, 1, 0} {
		p, err := s.PurgeExpired(ctx, time.Now(), limit)
		must(t, err, "PurgeExpired(JTIs)")
		if n := p["used_jtis"]; n != want || p.Total() != want {
			t.Errorf("PurgeExpired(limit %d) over expired JTIs = %d, want %d", limit, n, want)
		}
	}
	wantKnown(t, ctx, s, "new-j", true)
}

func testPurgeCutoff(t *testing.T, ctx context.Context, s storage.Store) {
	exp := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	createRequests(t, ctx, s, newRequest(storage.KindCode, "code", "g1", "c1", "alice", exp))
	must(t, s.MarkJTI(ctx, "j1", exp), "MarkJTI")

	p, err := s.PurgeExpired(ctx, exp.Add(-time.Hour), 100)
	must(t, err, "PurgeExpired(earlier cutoff)")
	if n := p.Total(); n != 0 {
		t.Errorf("PurgeExpired with a cutoff before every expiry = %d, want 0", n)
	}
	p, err = s.PurgeExpired(ctx, exp, 100)
	must(t, err, "PurgeExpired(cutoff == expiry)")
	if n := p.Total(); n != 0 {
		t.Errorf("PurgeExpired with cutoff equal to the expiry = %d, want 0 (strictly before)", n)
	}
	wantState(t, ctx, s, storage.KindCode, "code", "active")

	p, err = s.PurgeExpired(ctx, exp.Add(time.Microsecond), 100)
	must(t, err, "PurgeExpired(later cutoff)")
	if n := p.Total(); n != 2 {
		t.Errorf("PurgeExpired just after the expiry = %d, want 2", n)
	}
	wantState(t, ctx, s, storage.KindCode, "code", "missing")
}

// ---- time handling -------------------------------------------------------

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
