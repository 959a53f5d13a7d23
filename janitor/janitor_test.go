package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/janitor"
	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// countingStore wraps a real store and records the largest batch any one
// delete removed from one table.
type countingStore struct {
	janitor.Store
	mu       sync.Mutex
	calls    int
	maxBatch int64
	fail     error // returned by PurgeKeyEvents when set
}

func (c *countingStore) PurgeExpired(ctx context.Context, cutoff time.Time, limit int) (storage.Purged, error) {
	p, err := c.Store.PurgeExpired(ctx, cutoff, limit)
	c.mu.Lock()
	c.calls++
	for _, n := range p {
		c.maxBatch = max(c.maxBatch, n)
	}
	c.mu.Unlock()
	return p, err
}

func (c *countingStore) PurgeKeyEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	n, err := c.Store.PurgeKeyEvents(ctx, before, limit)
	c.mu.Lock()
	c.maxBatch = max(c.maxBatch, n)
	c.mu.Unlock()
	return n, err
}

func openDB(t *testing.T) *storage.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "j.db"), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func addRequests(t *testing.T, db *storage.DB, kind storage.Kind, n int, expires time.Time) {
	t.Helper()
	for i := range n {
		r := &storage.Request{Kind: kind, Signature: fmt.Sprintf("%s-%d-%d", kind, expires.UnixNano(), i), RequestID: "g", ClientID: "c",
			Active: true, RequestedAt: time.Now(), ExpiresAt: expires, Data: []byte("{}")}
		if err := db.CreateRequest(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func countRequests(t *testing.T, db *storage.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Writer().Model(&storage.Request{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunOnce(t *testing.T) {
	now := time.Now().UTC()
	tests := []struct {
		name      string
		batch     int
		retention time.Duration
		sessions  time.Duration // SessionLifetime
		want      storage.Purged
		wantLeft  int // key events left
	}{
		{"small batches with audit retention", 7, 24 * time.Hour, 24 * time.Hour,
			storage.Purged{"access_tokens": 23, "authorization_codes": 9, "refresh_tokens": 3, "par_requests": 1, "used_jtis": 11, "key_events": 15, "session_clients": 8}, 2},
		{"one batch fits all", 500, 24 * time.Hour, 24 * time.Hour,
			storage.Purged{"access_tokens": 23, "authorization_codes": 9, "refresh_tokens": 3, "par_requests": 1, "used_jtis": 11, "key_events": 15, "session_clients": 8}, 2},
		{"audit and session records kept forever", 5, 0, 0,
			storage.Purged{"access_tokens": 23, "authorization_codes": 9, "refresh_tokens": 3, "par_requests": 1, "used_jtis": 11}, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			ctx := t.Context()
			old, live := now.Add(-time.Minute), now.Add(time.Hour)
			addRequests(t, db, storage.KindAccess, 23, old)
			addRequests(t, db, storage.KindCode, 9, old)
			addRequests(t, db, storage.KindRefresh, 3, old)
			addRequests(t, db, storage.KindPAR, 1, old)
			addRequests(t, db, storage.KindAccess, 4, live)
			addRequests(t, db, storage.KindRefresh, 2, live)
			for i := range 11 {
				if err := db.MarkJTI(ctx, fmt.Sprintf("old-%d", i), old); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.MarkJTI(ctx, "live", live); err != nil {
				t.Fatal(err)
			}
			for i := range 17 {
				at := now.Add(-time.Duration(25+i) * time.Hour) // 15 older than a day...
				if i >= 15 {
					at = now.Add(-time.Hour) // ...and 2 recent
				}
				if err := db.AddKeyEvent(ctx, &storage.KeyEvent{KeyID: "k", UserID: "u", Type: "exchanged", At: at}); err != nil {
					t.Fatal(err)
				}
			}

			for i := range 10 {
				at := now.Add(-time.Duration(25+i) * time.Hour) // 8 sessions older than a day...
				if i >= 8 {
					at = now.Add(-time.Hour) // ...and 2 that may still be signed in
				}
				if err := db.AddSessionClient(ctx, &storage.SessionClient{SID: fmt.Sprintf("sid-%d", i), ClientID: "c", UserID: "u", CreatedAt: at}); err != nil {
					t.Fatal(err)
				}
			}

			store := &countingStore{Store: db}
			reported := storage.Purged{}
			j := janitor.New(janitor.Config{Batch: tc.batch, Pause: -1, AuditRetention: tc.retention, SessionLifetime: tc.sessions, Now: func() time.Time { return now },
				OnPurged: func(table string, n int64) { reported[table] += n }}, store)
			got, err := j.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("RunOnce = %v, want %v", got, tc.want)
			}
			if !maps.Equal(reported, tc.want) {
				t.Errorf("OnPurged saw %v, want %v", reported, tc.want)
			}
			if store.maxBatch > int64(tc.batch) {
				t.Errorf("one delete removed %d rows, more than the batch of %d", store.maxBatch, tc.batch)
			}
			// 36 expired request records (the most of any table): full
			// batches, then one call that finds nothing.
			if wantCalls := (36+tc.batch-1)/tc.batch + 1; store.calls != wantCalls {
				t.Errorf("PurgeExpired called %d times, want %d (until a call removes nothing)", store.calls, wantCalls)
			}
			if n := countRequests(t, db); n != 6 {
				t.Errorf("%d request records left, want the 6 live ones", n)
			}
			if ok, _ := db.JTIKnown(ctx, "live"); !ok {
				t.Error("the live JTI was purged")
			}
			es, err := db.ListKeyEvents(ctx, "k", 100)
			if err != nil || len(es) != tc.wantLeft {
				t.Errorf("%d key events left (%v), want %d", len(es), err, tc.wantLeft)
			}

			for i, want := range map[int]bool{0: tc.sessions == 0, 7: tc.sessions == 0, 8: true, 9: true} {
				if known, _ := db.SessionKnown(ctx, "u", fmt.Sprintf("sid-%d", i)); known != want {
					t.Errorf("session record sid-%d kept = %v, want %v", i, known, want)
				}
			}

			again, err := j.RunOnce(ctx)
			if err != nil || again.Total() != 0 {
				t.Errorf("second pass = %v, %v; want nothing left to purge", again, err)
			}
		})
	}
}

func TestRunOnceErrorReportsPartialCounts(t *testing.T) {
	db := openDB(t)
	addRequests(t, db, storage.KindCode, 3, time.Now().Add(-time.Minute))
	boom := errors.New("disk on fire")
	var reported int64
	j := janitor.New(janitor.Config{AuditRetention: time.Hour, OnPurged: func(_ string, n int64) { reported += n }},
		&countingStore{Store: db, fail: boom})
	got, err := j.RunOnce(t.Context())
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if got["authorization_codes"] != 3 || reported != 3 {
		t.Errorf("partial counts = %v, reported %d; want the 3 codes removed before the failure", got, reported)
	}
}

func TestRunPurgesOnScheduleAndStops(t *testing.T) {
	db := openDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	j := janitor.New(janitor.Config{Interval: 20 * time.Millisecond}, db)
	go func() { defer close(done); j.Run(ctx) }()

	// Records that expire after Run started are removed by a later pass.
	addRequests(t, db, storage.KindAccess, 5, time.Now().Add(50*time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for countRequests(t, db) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired records still there 5 s after they expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
