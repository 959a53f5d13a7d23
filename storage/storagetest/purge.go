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
