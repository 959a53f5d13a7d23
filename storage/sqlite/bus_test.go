package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/storage"
	"github.com/latchkey/latchkey/storage/sqlite"
)

// recorder is a storage.Subscriber that remembers what it was told.
type recorder struct {
	mu        sync.Mutex
	invs      []storage.Invalidation
	listening bool
	flushes   int
	changed   chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) Invalidate(inv storage.Invalidation) {
	r.mu.Lock()
	r.invs = append(r.invs, inv)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) SetListening(ok bool) {
	r.mu.Lock()
	if r.listening && !ok {
		r.flushes++
	}
	r.listening = ok
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) state() ([]storage.Invalidation, bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]storage.Invalidation(nil), r.invs...), r.listening, r.flushes
}

// waitFor polls cond until it holds or 5 s pass.
func (r *recorder) waitFor(t *testing.T, what string, cond func(invs []storage.Invalidation, listening bool, flushes int) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if cond(r.state()) {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			invs, l, f := r.state()
			t.Fatalf("%s: not within 5 s (invalidations %v, listening %v, flushes %d)", what, invs, l, f)
		}
	}
}

// TestPollerDeliversOtherProcessesWrites opens one file twice, as the CLI
// and `latchkey serve` do: a write through A reaches B's subscribers
// through the invalidation log, and B skips its own writes (its caches
// heard of those at commit).
func TestPollerDeliversOtherProcessesWrites(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "t.db")
	a := open(t, path)
	b, poller, err := sqlite.OpenWithBus(path, sqlite.Config{Readers: 2, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rec := newRecorder()
	poller.Subscribe(rec)
	if _, listening, _ := rec.state(); listening {
		t.Fatal("a poller that has not read the log yet says it is listening")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); poller.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	rec.waitFor(t, "listening after the first read", func(_ []storage.Invalidation, l bool, _ int) bool { return l })

	for _, id := range []string{"u-a", "u-b"} {
		if err := a.CreateUser(ctx, &storage.User{ID: id, Username: id, Email: id + "@example.com", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	// b's own write first: b's poller must skip it.
	if err := b.SetUserSuspended(ctx, "u-b", &now); err != nil {
		t.Fatal(err)
	}
	if err := a.SetUserSuspended(ctx, "u-a", &now); err != nil {
		t.Fatal(err)
	}
	want := storage.Invalidation{Topic: storage.TopicUser, ID: "u-a"}
	rec.waitFor(t, "A's suspension at B", func(invs []storage.Invalidation, _ bool, _ int) bool {
		return len(invs) > 0 && invs[len(invs)-1] == want
	})
	invs, _, flushes := rec.state()
	for _, inv := range invs {
		if inv.ID == "u-b" {
			t.Errorf("B was told of its own write %v", inv)
		}
	}
	if flushes != 0 {
		t.Errorf("%d flushes, want none", flushes)
	}

	// A topic this version does not know (a newer process wrote it) flushes.
	if err := a.Writer().Exec("INSERT INTO invalidation_log (topic, record_id, origin, created_at) VALUES ('future', 'x', 'other', ?)", time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "flush on an unknown topic", func(_ []storage.Invalidation, l bool, f int) bool { return f == 1 && l })

	// Rows pruned before B read them (a gap in the sequence) flush too.
	w := a.Writer()
	for i := 0; i < 3; i++ {
		if err := w.Exec("INSERT INTO invalidation_log (topic, record_id, origin, created_at) VALUES ('user', 'gone', 'other', ?)", time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
	}
	// Deleting them at once, before B's next read, is what pruning does to
	// a poller that fell behind; B then sees the row after them, with a gap.
	if err := w.Exec("DELETE FROM invalidation_log WHERE record_id = 'gone'").Error; err != nil {
		t.Fatal(err)
	}
	if err := a.SetUserSuspended(ctx, "u-a", nil); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "flush on a gap", func(_ []storage.Invalidation, l bool, f int) bool { return f >= 2 && l })
}

// TestPollerBypassesWhileTheLogCannotBeRead: a poller that cannot read the
// log (here: the database closed under it) says it is not listening, so
// its subscribers stop trusting their caches.
func TestPollerBypassesWhileTheLogCannotBeRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	_ = open(t, path)
	b, poller, err := sqlite.OpenWithBus(path, sqlite.Config{Readers: 1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	poller.Subscribe(rec)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); poller.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	rec.waitFor(t, "listening", func(_ []storage.Invalidation, l bool, _ int) bool { return l })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "not listening once reads fail", func(_ []storage.Invalidation, l bool, _ int) bool { return !l })
}

// TestInvalidationLogIsPruned: rows older than ten minutes leave the log
// with a later write.
func TestInvalidationLogIsPruned(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "t.db"))
	if err := db.Writer().Exec("INSERT INTO invalidation_log (topic, record_id, origin, created_at) VALUES ('user', 'old', 'other', ?)",
		time.Now().UTC().Add(-11*time.Minute)).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &storage.User{ID: "u", Username: "u", Email: "u@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.SetUserSuspended(ctx, "u", &now); err != nil {
		t.Fatal(err)
	}
	var old, fresh int64
	db.Writer().Raw("SELECT count(*) FROM invalidation_log WHERE record_id = 'old'").Scan(&old)
	db.Writer().Raw("SELECT count(*) FROM invalidation_log WHERE record_id = 'u'").Scan(&fresh)
	if old != 0 || fresh != 1 {
		t.Fatalf("after a write: %d rows older than ten minutes (want 0), %d new (want 1)", old, fresh)
	}
}

// TestReaderPageCacheBudget: the readers share storage.sqlite_page_cache_mib
// out evenly, never below SQLite's own default of 2,000 KiB each.
func TestReaderPageCacheBudget(t *testing.T) {
	for _, tc := range []struct {
		readers, budget int
		wantKiB         int
	}{
		{16, 64, 4096},
		{4, 64, 16384},
		{16, 0, 2048}, // 0 = the default budget, 32 MiB
		{64, 8, 2000},
	} {
		path := filepath.Join(t.TempDir(), "t.db")
		db, _, err := sqlite.OpenWithBus(path, sqlite.Config{Readers: tc.readers, PageCacheMiB: tc.budget})
		if err != nil {
			t.Fatal(err)
		}
		pools, err := db.Pools()
		if err != nil {
			t.Fatal(err)
		}
		var size int
		if err := pools["reader"].QueryRow("PRAGMA cache_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if size != -tc.wantKiB {
			t.Errorf("%d readers, budget %d MiB: cache_size %d, want %d (KiB)", tc.readers, tc.budget, size, -tc.wantKiB)
		}
		_ = db.Close()
	}
}
